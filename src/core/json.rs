//! Reading fields out of JSON objects from servers, leniently typed where the specs allow it.

use serde_json::{Map, Value};

pub type Object = Map<String, Value>;

pub fn str_field(o: &Object, name: &str) -> Option<String> {
    o.get(name).and_then(Value::as_str).map(str::to_string)
}

pub fn str_list(o: &Object, name: &str) -> Option<Vec<String>> {
    let arr = o.get(name)?.as_array()?;
    Some(arr.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
}

pub fn bool_field(o: &Object, name: &str) -> bool {
    o.get(name).and_then(Value::as_bool).unwrap_or(false)
}
