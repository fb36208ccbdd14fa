// The app's frontend, as plain AMD so no build toolchain is needed: Grafana's SystemJS loader
// gives us @grafana/data (AppPlugin) and react. The backend does the work; this page shows it.
define(['@grafana/data', 'react'], function (data, React) {
  'use strict';
  var h = React.createElement;

  function AppRoot(props) {
    var pluginId = props.meta.id;
    var state = React.useState({ loading: true });
    var result = state[0];
    var setResult = state[1];

    React.useEffect(function () {
      fetch('/api/plugins/' + pluginId + '/resources/ping', { credentials: 'same-origin' })
        .then(function (response) {
          return response.json().then(function (body) {
            setResult({ loading: false, status: response.status, body: body });
          });
        })
        .catch(function (error) {
          setResult({ loading: false, error: String(error) });
        });
    }, [pluginId]);

    if (result.loading) {
      return h('p', null, 'Asking the backend…');
    }
    if (result.error || result.status !== 200) {
      return h('p', { role: 'alert' }, 'The backend did not answer: ' + (result.error || result.status));
    }
    var plugin = result.body.plugin || {};
    return h(
      'div',
      null,
      h('h2', null, 'Service checks'),
      h('p', null, 'Backend ' + plugin.pluginID + ' ' + plugin.version + ' (' + plugin.target + ') answers.')
    );
  }

  return { plugin: new data.AppPlugin().setRootPage(AppRoot) };
});
