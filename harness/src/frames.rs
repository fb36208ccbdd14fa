//! Arrow frames as Grafana decodes them (the Go SDK's `data.UnmarshalArrowFrame`): for tests
//! that check what a data source answered, as plain JSON.
use anyhow::{Context, Result};
use grafana_plugin_sdk::arrow2::{
    array::{Array, BooleanArray, Float64Array, Int64Array, Utf8Array},
    datatypes::DataType,
    io::ipc::read::{FileReader, read_file_metadata},
};
use serde_json::{Value, json};

/// `{"name", "refId", "meta", "fields": [{"name", "type", "labels", "config", "values"}]}`;
/// `type` is `time` (values in Unix milliseconds), `number`, `string` or `boolean`.
pub fn decode(bytes: &[u8]) -> Result<Value> {
    let mut reader = std::io::Cursor::new(bytes);
    let metadata = read_file_metadata(&mut reader).context("not an Arrow IPC file")?;
    let schema = metadata.schema.clone();
    let text = |map: &std::collections::BTreeMap<String, String>, key: &str| map.get(key).cloned();
    let parsed = |map: &std::collections::BTreeMap<String, String>, key: &str| {
        text(map, key).and_then(|json| serde_json::from_str::<Value>(&json).ok())
    };
    let mut fields: Vec<Value> = schema
        .fields
        .iter()
        .map(|field| {
            json!({
                "name": field.name,
                "labels": parsed(&field.metadata, "labels"),
                "config": parsed(&field.metadata, "config"),
                "values": [],
            })
        })
        .collect();
    for chunk in FileReader::new(reader, metadata, None, None) {
        let chunk = chunk.context("an Arrow record batch")?;
        for (field, array) in fields.iter_mut().zip(chunk.arrays()) {
            let (kind, values) = column(array.as_ref())?;
            field["type"] = kind.into();
            field["values"].as_array_mut().unwrap().extend(values);
        }
    }
    Ok(json!({
        "name": text(&schema.metadata, "name"),
        "refId": text(&schema.metadata, "refId"),
        "meta": parsed(&schema.metadata, "meta"),
        "fields": fields,
    }))
}

fn column(array: &dyn Array) -> Result<(&'static str, Vec<Value>)> {
    let any = array.as_any();
    let present = |i: usize| array.is_valid(i);
    Ok(match array.data_type() {
        DataType::Timestamp(..) => {
            let values = any.downcast_ref::<Int64Array>().context("timestamps")?;
            let ms = (0..values.len())
                .map(|i| present(i).then(|| values.value(i) / 1_000_000).into())
                .collect();
            ("time", ms)
        }
        DataType::Float64 => {
            let values = any.downcast_ref::<Float64Array>().context("numbers")?;
            (
                "number",
                (0..values.len())
                    .map(|i| present(i).then(|| values.value(i)).into())
                    .collect(),
            )
        }
        DataType::Int64 => {
            let values = any.downcast_ref::<Int64Array>().context("integers")?;
            (
                "number",
                (0..values.len())
                    .map(|i| present(i).then(|| values.value(i)).into())
                    .collect(),
            )
        }
        DataType::Utf8 => {
            let values = any.downcast_ref::<Utf8Array<i32>>().context("strings")?;
            (
                "string",
                (0..values.len())
                    .map(|i| present(i).then(|| values.value(i)).into())
                    .collect(),
            )
        }
        DataType::Boolean => {
            let values = any.downcast_ref::<BooleanArray>().context("booleans")?;
            (
                "boolean",
                (0..values.len())
                    .map(|i| present(i).then(|| values.value(i)).into())
                    .collect(),
            )
        }
        other => anyhow::bail!("a field of Arrow type {other:?}, which this decoder does not read"),
    })
}
