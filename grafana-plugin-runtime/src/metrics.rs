//! CollectMetrics: the plugin's metrics, in one Prometheus text exposition. Grafana asks
//! without an org (`/api/plugins/<id>/metrics`), so the plugin sees every live instance with
//! its key and labels its series by it (`org_id`, `datasource_uid`): two orgs' series never
//! mix, and each metric family is registered once.
use std::sync::Arc;

use prometheus_client::{encoding::text::encode, registry::Registry};

use crate::{InstanceKey, Plugin};

pub(crate) fn collect<P: Plugin>(
    plugin: &P,
    instances: &[(InstanceKey, Arc<P::Instance>)],
) -> String {
    let mut registry = Registry::default();
    plugin.collect_metrics(instances, &mut registry);
    let mut text = String::new();
    if let Err(error) = encode(&mut text, &registry) {
        tracing::error!(%error, "the metrics could not be encoded");
        text.clear();
    }
    text
}
