//! Data queries (`pluginv2.Data/QueryData`, a data source's panels and alerts) and the frames
//! that answer them, encoded as Grafana reads them: Arrow IPC files whose schema metadata
//! holds the frame's `name`, `refId` and `meta`, and whose fields' metadata holds `name`,
//! `labels` and `config` as JSON; time as nanosecond timestamps (the Go SDK's `data/arrow.go`
//! is the spec; Grafana decodes with it). Written with the `arrow2` the SDK already builds,
//! not through the SDK's frames, whose field metadata drops labels when a field has a config.
use std::{collections::BTreeMap, time::SystemTime};

use grafana_plugin_sdk::{
    arrow2::{
        array::{Array, BooleanArray, PrimitiveArray, Utf8Array},
        chunk::Chunk,
        datatypes::{DataType, Field as ArrowField, Metadata, Schema, TimeUnit},
        io::ipc::write::{FileWriter, WriteOptions},
    },
    pluginv2,
};

/// One query of a QueryData call, as Grafana sends it (from `/api/ds/query`, an alert rule, a
/// dashboard): untrusted, `json` is the query editor's model plus Grafana's own fields.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DataQuery {
    /// The query's id in the panel (`A`, `B`): its answer is keyed by it.
    pub ref_id: String,
    /// The query editor's `queryType`, if it sets one.
    pub query_type: String,
    /// How many points the panel can show (its width in pixels).
    pub max_data_points: i64,
    /// The panel's suggested interval between points, in milliseconds.
    pub interval_ms: i64,
    /// The dashboard's time range, Unix milliseconds.
    pub from_ms: i64,
    /// The end of the time range, Unix milliseconds.
    pub to_ms: i64,
    /// The query's JSON as the frontend sent it.
    pub json: Vec<u8>,
}

impl DataQuery {
    pub(crate) fn from_proto(query: pluginv2::DataQuery) -> DataQuery {
        let range = query.time_range.unwrap_or_default();
        DataQuery {
            ref_id: query.ref_id,
            query_type: query.query_type,
            max_data_points: query.max_data_points,
            interval_ms: query.interval_ms,
            from_ms: range.from_epoch_ms,
            to_ms: range.to_epoch_ms,
            json: query.json,
        }
    }

    /// A query, for tests.
    pub fn new(ref_id: impl Into<String>, from_ms: i64, to_ms: i64, json: &str) -> DataQuery {
        DataQuery {
            ref_id: ref_id.into(),
            query_type: String::new(),
            max_data_points: 1000,
            interval_ms: 1000,
            from_ms,
            to_ms,
            json: json.as_bytes().to_vec(),
        }
    }
}

/// The answer to one query: frames, or an error Grafana shows under the panel. The other
/// queries of the same call still answer.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct DataResponse {
    /// The frames (empty for an error).
    pub frames: Vec<Frame>,
    /// `(status, message)`: an HTTP-like status (400 for a query of the wrong shape, 500
    /// for a failure) and what Grafana shows.
    pub error: Option<(u16, String)>,
}

impl DataResponse {
    /// An answer with frames.
    pub fn frames(frames: Vec<Frame>) -> DataResponse {
        DataResponse {
            frames,
            error: None,
        }
    }

    /// An error for this query only.
    pub fn error(status: u16, message: impl Into<String>) -> DataResponse {
        DataResponse {
            frames: Vec::new(),
            error: Some((status, message.into())),
        }
    }

    /// As the protocol carries it: Arrow frames with the query's refId, or the error.
    pub(crate) fn into_proto(self, ref_id: &str) -> pluginv2::DataResponse {
        if let Some((status, error)) = self.error {
            return pluginv2::DataResponse {
                frames: Vec::new(),
                error,
                json_meta: Vec::new(),
                status: i32::from(status),
            };
        }
        let mut frames = Vec::with_capacity(self.frames.len());
        for frame in &self.frames {
            match frame.to_arrow(ref_id) {
                Ok(bytes) => frames.push(bytes),
                Err(error) => {
                    return DataResponse::error(500, format!("frame {:?}: {error}", frame.name))
                        .into_proto(ref_id);
                }
            }
        }
        pluginv2::DataResponse {
            frames,
            error: String::new(),
            json_meta: Vec::new(),
            status: 200,
        }
    }
}

/// A table of fields of equal length, as Grafana's panels read it.
///
/// ```
/// use grafana_plugin_runtime::data::{Field, Frame};
/// let frame = Frame::new("response").with_fields([
///     Field::time_ms("time", vec![1_700_000_000_000, 1_700_000_060_000]),
///     Field::f64("temperature", vec![21.5, 22.0]).with_config(serde_json::json!({ "unit": "celsius" })),
/// ]);
/// assert!(frame.to_arrow("A").unwrap().starts_with(b"ARROW1"));
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Frame {
    /// The frame's name.
    pub name: String,
    /// The fields (columns).
    pub fields: Vec<Field>,
    /// Grafana's frame meta (`executedQueryString`, `notices`, …), if any.
    pub meta: Option<serde_json::Value>,
}

/// One column: its name, labels, display config (`unit`, `displayNameFromDS`, …) and values.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Field {
    /// The field's name.
    pub name: String,
    /// Labels (`{"host": "a"}`), which with the name identify a series.
    pub labels: BTreeMap<String, String>,
    /// Grafana's field config as JSON (`{"unit": "ms"}`).
    pub config: Option<serde_json::Value>,
    /// The values.
    pub values: Values,
}

/// A field's values.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Values {
    /// Times, nanoseconds since the Unix epoch.
    Time(Vec<i64>),
    /// Numbers; `None` is a gap.
    F64(Vec<Option<f64>>),
    /// Whole numbers.
    I64(Vec<i64>),
    /// Text.
    String(Vec<String>),
    /// Booleans.
    Bool(Vec<bool>),
}

impl Values {
    fn len(&self) -> usize {
        match self {
            Values::Time(v) | Values::I64(v) => v.len(),
            Values::F64(v) => v.len(),
            Values::String(v) => v.len(),
            Values::Bool(v) => v.len(),
        }
    }
}

impl Frame {
    /// An empty frame.
    pub fn new(name: impl Into<String>) -> Frame {
        Frame {
            name: name.into(),
            fields: Vec::new(),
            meta: None,
        }
    }

    /// With these fields.
    pub fn with_fields(mut self, fields: impl IntoIterator<Item = Field>) -> Frame {
        self.fields.extend(fields);
        self
    }

    /// With Grafana's frame meta.
    pub fn with_meta(mut self, meta: serde_json::Value) -> Frame {
        self.meta = Some(meta);
        self
    }

    /// The frame as one Arrow IPC file, as Grafana decodes it; `ref_id` is the query's.
    pub fn to_arrow(&self, ref_id: &str) -> Result<Vec<u8>, String> {
        let rows = self.fields.first().map_or(0, |f| f.values.len());
        if let Some(field) = self.fields.iter().find(|f| f.values.len() != rows) {
            return Err(format!(
                "field {:?} has {} values where the first has {rows}",
                field.name,
                field.values.len()
            ));
        }
        let mut arrow_fields = Vec::with_capacity(self.fields.len());
        let mut columns: Vec<Box<dyn Array>> = Vec::with_capacity(self.fields.len());
        for field in &self.fields {
            let mut metadata = Metadata::new();
            metadata.insert("name".into(), field.name.clone());
            if !field.labels.is_empty() {
                metadata.insert("labels".into(), json(&field.labels)?);
            }
            if let Some(config) = &field.config {
                metadata.insert("config".into(), json(config)?);
            }
            let (data_type, nullable, column): (DataType, bool, Box<dyn Array>) = match &field
                .values
            {
                Values::Time(v) => {
                    let data_type = DataType::Timestamp(TimeUnit::Nanosecond, None);
                    let array = PrimitiveArray::<i64>::from_vec(v.clone()).to(data_type.clone());
                    (data_type, false, array.boxed())
                }
                Values::F64(v) => (
                    DataType::Float64,
                    v.iter().any(Option::is_none),
                    PrimitiveArray::<f64>::from(v.clone()).boxed(),
                ),
                Values::I64(v) => (
                    DataType::Int64,
                    false,
                    PrimitiveArray::<i64>::from_vec(v.clone()).boxed(),
                ),
                Values::String(v) => (
                    DataType::Utf8,
                    false,
                    Utf8Array::<i32>::from_slice(v).boxed(),
                ),
                Values::Bool(v) => (
                    DataType::Boolean,
                    false,
                    BooleanArray::from_slice(v).boxed(),
                ),
            };
            arrow_fields.push(
                ArrowField::new(field.name.clone(), data_type, nullable).with_metadata(metadata),
            );
            columns.push(column);
        }
        let mut metadata = Metadata::new();
        metadata.insert("name".into(), self.name.clone());
        metadata.insert("refId".into(), ref_id.to_owned());
        if let Some(meta) = &self.meta {
            metadata.insert("meta".into(), json(meta)?);
        }
        let schema = Schema::from(arrow_fields).with_metadata(metadata);
        let mut bytes = Vec::new();
        let mut writer =
            FileWriter::try_new(&mut bytes, schema, None, WriteOptions { compression: None })
                .map_err(|error| error.to_string())?;
        if !columns.is_empty() {
            let chunk = Chunk::try_new(columns).map_err(|error| error.to_string())?;
            writer
                .write(&chunk, None)
                .map_err(|error| error.to_string())?;
        }
        writer.finish().map_err(|error| error.to_string())?;
        Ok(bytes)
    }
}

/// A metadata value as JSON.
fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, String> {
    serde_json::to_string(value).map_err(|error| error.to_string())
}

impl Field {
    fn of(name: impl Into<String>, values: Values) -> Field {
        Field {
            name: name.into(),
            labels: BTreeMap::new(),
            config: None,
            values,
        }
    }

    /// Times.
    pub fn time(name: impl Into<String>, times: &[SystemTime]) -> Field {
        let nanos = times
            .iter()
            .map(|time| match time.duration_since(SystemTime::UNIX_EPOCH) {
                Ok(since) => i64::try_from(since.as_nanos()).unwrap_or(i64::MAX),
                Err(before) => -i64::try_from(before.duration().as_nanos()).unwrap_or(i64::MAX),
            })
            .collect();
        Field::of(name, Values::Time(nanos))
    }

    /// Times given as Unix milliseconds (Grafana's time ranges are).
    pub fn time_ms(name: impl Into<String>, millis: Vec<i64>) -> Field {
        Field::of(
            name,
            Values::Time(
                millis
                    .into_iter()
                    .map(|ms| ms.saturating_mul(1_000_000))
                    .collect(),
            ),
        )
    }

    /// Numbers.
    pub fn f64(name: impl Into<String>, values: Vec<f64>) -> Field {
        Field::of(name, Values::F64(values.into_iter().map(Some).collect()))
    }

    /// Numbers with gaps.
    pub fn f64_opt(name: impl Into<String>, values: Vec<Option<f64>>) -> Field {
        Field::of(name, Values::F64(values))
    }

    /// Whole numbers.
    pub fn i64(name: impl Into<String>, values: Vec<i64>) -> Field {
        Field::of(name, Values::I64(values))
    }

    /// Text.
    pub fn string(name: impl Into<String>, values: Vec<String>) -> Field {
        Field::of(name, Values::String(values))
    }

    /// Booleans.
    pub fn bool(name: impl Into<String>, values: Vec<bool>) -> Field {
        Field::of(name, Values::Bool(values))
    }

    /// With Grafana's field config (`{"unit": "ms", "displayNameFromDS": "…"}`).
    pub fn with_config(mut self, config: serde_json::Value) -> Field {
        self.config = Some(config);
        self
    }

    /// With labels.
    pub fn with_labels(mut self, labels: BTreeMap<String, String>) -> Field {
        self.labels = labels;
        self
    }
}

#[cfg(test)]
mod tests {
    use grafana_plugin_sdk::arrow2::{
        array::{Float64Array, Int64Array},
        io::ipc::read::{FileReader, read_file_metadata},
    };

    use super::*;

    #[test]
    fn frames_decode_as_grafana_reads_them() {
        let frame = Frame::new("response")
            .with_meta(serde_json::json!({ "executedQueryString": "x" }))
            .with_fields([
                Field::time_ms("time", vec![1_000, 2_000]),
                Field::f64_opt("values", vec![Some(1.5), None])
                    .with_config(serde_json::json!({ "unit": "ms" }))
                    .with_labels([("host".to_owned(), "a".to_owned())].into()),
            ]);
        let bytes = frame.to_arrow("A").unwrap();
        let mut reader = std::io::Cursor::new(bytes);
        let metadata = read_file_metadata(&mut reader).unwrap();
        let schema = metadata.schema.clone();
        assert_eq!(schema.metadata["name"], "response");
        assert_eq!(schema.metadata["refId"], "A");
        assert_eq!(schema.metadata["meta"], r#"{"executedQueryString":"x"}"#);
        let time = &schema.fields[0];
        assert_eq!(
            time.data_type,
            DataType::Timestamp(TimeUnit::Nanosecond, None)
        );
        assert_eq!(time.metadata["name"], "time");
        let values = &schema.fields[1];
        assert!(values.is_nullable);
        // Both labels and config, where the SDK 0.5 keeps only the config.
        assert_eq!(values.metadata["labels"], r#"{"host":"a"}"#);
        assert_eq!(values.metadata["config"], r#"{"unit":"ms"}"#);
        let chunk = FileReader::new(reader, metadata, None, None)
            .next()
            .unwrap()
            .unwrap();
        let times = chunk.arrays()[0]
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap();
        assert_eq!(times.values().as_slice(), [1_000_000_000, 2_000_000_000]);
        let numbers = chunk.arrays()[1]
            .as_any()
            .downcast_ref::<Float64Array>()
            .unwrap();
        assert_eq!((numbers.value(0), numbers.is_null(1)), (1.5, true));
    }

    #[test]
    fn fields_of_different_lengths_are_that_querys_error() {
        let frame =
            Frame::new("bad").with_fields([Field::i64("a", vec![1]), Field::i64("b", vec![])]);
        let proto = DataResponse::frames(vec![frame]).into_proto("A");
        assert_eq!(proto.status, 500);
        assert!(
            proto
                .error
                .contains("\"b\" has 0 values where the first has 1"),
            "{}",
            proto.error
        );
        let error = DataResponse::error(400, "constant: expected a number").into_proto("B");
        assert_eq!(
            (error.status, error.error.as_str()),
            (400, "constant: expected a number")
        );
    }
}
