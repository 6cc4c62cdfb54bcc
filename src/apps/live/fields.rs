//! `/live` request fields: the limits, and the readers that turn a JSON value into an [`Id`], a flag, text, a price or a shelf status, each error naming its field.

use serde::Serialize;
use serde_json::{Map, Value};

/// Longest id (`room_id`, `from_uid`, …), in characters.
pub const MAX_ID_CHARS: usize = 64;
/// Longest `from_name`, in characters.
pub const MAX_NAME_CHARS: usize = 32;
/// Longest `goods_name`, in characters.
pub const MAX_GOODS_NAME_CHARS: usize = 64;
/// Longest `default_image` URL, in characters.
pub const MAX_IMAGE_CHARS: usize = 1024;

/// An id that arrives as a JSON string or integer; kept as its text (`1001` → `"1001"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Id(pub(super) String);

impl Id {
    /// Reads an id from a JSON value: a non-empty string (trimmed) or an integer, at most
    /// [`MAX_ID_CHARS`] characters.
    pub fn from_value(v: &Value) -> Result<Id, &'static str> {
        let text = match v {
            Value::String(s) => s.trim().to_owned(),
            Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
            _ => return Err("must be a string or an integer"),
        };
        if text.is_empty() {
            return Err("must not be empty");
        }
        if text.chars().count() > MAX_ID_CHARS {
            return Err("is too long");
        }
        Ok(Id(text))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Serialize for Id {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// A flag: `true`/`false`, `1`/`0`, or `"true"`/`"false"`/`"1"`/`"0"`.
pub(super) fn flag(v: &Value) -> Result<bool, &'static str> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_u64() == Some(0) => Ok(false),
        Value::Number(n) if n.as_u64() == Some(1) => Ok(true),
        Value::String(s) if s == "true" || s == "1" => Ok(true),
        Value::String(s) if s == "false" || s == "0" => Ok(false),
        _ => Err("must be true or false"),
    }
}

/// Text.
pub(super) fn text(v: &Value) -> Result<String, &'static str> {
    v.as_str().map(str::to_owned).ok_or("must be a string")
}

/// A shelf status: `"on"`/`"off"` (also `1`/`0`, `true`/`false`); `true` is on.
pub(super) fn shelf_status(v: &Value) -> Result<bool, &'static str> {
    match v {
        Value::String(s) if s == "on" || s == "1" => Ok(true),
        Value::String(s) if s == "off" || s == "0" => Ok(false),
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_u64() == Some(1) => Ok(true),
        Value::Number(n) if n.as_u64() == Some(0) => Ok(false),
        _ => Err("must be \"on\" or \"off\""),
    }
}

/// A price: a non-negative number, or a string of at most 32 characters (`"99.00"`); sent
/// back as it came.
pub(super) fn price(v: &Value) -> Result<Value, &'static str> {
    match v {
        Value::Number(n) if n.as_f64().is_some_and(|f| f >= 0.0) => Ok(v.clone()),
        Value::String(s) if !s.trim().is_empty() && s.chars().count() <= 32 => Ok(v.clone()),
        _ => Err("must be a non-negative number or a short string"),
    }
}

/// A request's fields, read one by one so that every error names its field.
pub(super) struct Fields<'a> {
    pub(super) msg_type: &'static str,
    pub(super) obj: &'a Map<String, Value>,
}

impl Fields<'_> {
    /// A field that must be there (and not `null`).
    pub(super) fn required<T>(
        &self,
        name: &str,
        read: impl Fn(&Value) -> Result<T, &'static str>,
    ) -> Result<T, String> {
        self.optional(name, read)?
            .ok_or_else(|| format!("bad {}: {name} is required", self.msg_type))
    }

    /// A field that may be missing or `null`.
    pub(super) fn optional<T>(
        &self,
        name: &str,
        read: impl Fn(&Value) -> Result<T, &'static str>,
    ) -> Result<Option<T>, String> {
        match self.obj.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => read(v)
                .map(Some)
                .map_err(|e| format!("bad {}: {name} {e}", self.msg_type)),
        }
    }
}

/// A `goods_name`, trimmed: not empty and at most [`MAX_GOODS_NAME_CHARS`] characters.
pub(super) fn checked_goods_name(name: &str) -> Result<&str, String> {
    let name = name.trim();
    if name.is_empty() {
        return Err("goods_name must not be empty".into());
    }
    if name.chars().count() > MAX_GOODS_NAME_CHARS {
        return Err(format!(
            "goods_name is longer than {MAX_GOODS_NAME_CHARS} characters"
        ));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ids_from_strings_and_integers_are_equal() {
        let a = Id::from_value(&json!(1001)).unwrap();
        let b = Id::from_value(&json!("1001")).unwrap();
        let c = Id::from_value(&json!(" 1001 ")).unwrap();
        assert_eq!(a, b);
        assert_eq!(b, c);
        assert_eq!(a.as_str(), "1001");
        assert_eq!(Id::from_value(&json!(-5)).unwrap().as_str(), "-5");
        for bad in [
            json!(1.5),
            json!(null),
            json!(true),
            json!([1]),
            json!(""),
            json!("x".repeat(65)),
        ] {
            assert!(Id::from_value(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lenient_fields_where_clients_differ() {
        assert_eq!(flag(&json!("1")), Ok(true));
        assert_eq!(flag(&json!(0)), Ok(false));
        assert_eq!(flag(&json!(false)), Ok(false));
        assert!(flag(&json!("maybe")).is_err());
        assert_eq!(shelf_status(&json!("off")), Ok(false));
        assert_eq!(shelf_status(&json!(1)), Ok(true));
        assert!(shelf_status(&json!("later")).is_err());
        assert_eq!(price(&json!("9.90")), Ok(json!("9.90")));
        assert_eq!(price(&json!(9.9)), Ok(json!(9.9)));
        assert!(price(&json!(-1)).is_err());
        assert!(price(&json!("")).is_err());
    }

    #[test]
    fn field_errors_name_the_field() {
        let v = json!({"room_id": 7.5, "from_name": 3});
        let f = Fields {
            msg_type: "join",
            obj: v.as_object().unwrap(),
        };
        assert_eq!(
            f.required("room_id", Id::from_value).unwrap_err(),
            "bad join: room_id must be a string or an integer"
        );
        assert_eq!(
            f.required("from_name", text).unwrap_err(),
            "bad join: from_name must be a string"
        );
        assert_eq!(
            f.required("content", text).unwrap_err(),
            "bad join: content is required"
        );
        assert_eq!(f.optional("live_id", Id::from_value), Ok(None));
    }
}
