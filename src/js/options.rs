//! Reads the JS `connect()` options into [`SocketOptions`], the connection topic, the wire mode,
//! the logger, the external uploaders, the upload window and the outbox.
//! Unknown fields are ignored; a field of the wrong type is a `TypeError` naming it.

use std::rc::Rc;

use serde_json::{Map, Value};
use wasm_bindgen::{JsCast, JsValue};

use super::convert::from_js;
use crate::phoenix::backoff::Backoff;
use crate::phoenix::{AuthToken, Params, SocketOptions};
use crate::runtime::upload_transfer::MAX_WINDOW;
use crate::runtime::{DEFAULT_TOPIC, OutboxConfig, WireMode};

/// The parsed options of one connection.
pub(crate) struct ConnectOptions {
    pub(crate) socket: SocketOptions,
    pub(crate) topic: String,
    pub(crate) wire: WireMode,
    pub(crate) logger: Option<js_sys::Function>,
    /// `uploaders`: external uploaders by name (PROTOCOL.md §3.5).
    pub(crate) uploaders: Vec<(String, js_sys::Function)>,
    /// `uploadWindow`: chunks in flight per upload entry.
    pub(crate) upload_window: Option<usize>,
    /// `outbox`: commands queue while their root is not live.
    pub(crate) outbox: Option<OutboxConfig>,
}

/// Reads `options` (an object, `undefined` or `null`).
pub(crate) fn read(options: &JsValue) -> Result<ConnectOptions, JsValue> {
    let mut parsed = ConnectOptions {
        socket: SocketOptions::default(),
        topic: DEFAULT_TOPIC.to_owned(),
        wire: WireMode::Auto,
        logger: None,
        uploaders: Vec::new(),
        upload_window: None,
        outbox: None,
    };
    if options.is_undefined() || options.is_null() {
        return Ok(parsed);
    }
    if !options.is_object() {
        return Err(type_error("options must be an object"));
    }
    let field = |name: &str| js_sys::Reflect::get(options, &name.into()).unwrap_or(JsValue::UNDEFINED);

    let params = field("params");
    if let Some(compute) = params.dyn_ref::<js_sys::Function>() {
        let compute = compute.clone();
        parsed.socket.params = Params::Lazy(Rc::new(move || call_for_params(&compute)));
    } else if !params.is_undefined() {
        parsed.socket.params = Params::Static(params_object(&params).ok_or_else(|| type_error("params must be an object or a function"))?);
    }

    let token = field("authToken");
    if let Some(compute) = token.dyn_ref::<js_sys::Function>() {
        let compute = compute.clone();
        parsed.socket.auth_token = Some(AuthToken::Lazy(Rc::new(move || {
            compute.call0(&JsValue::NULL).ok().and_then(|token| token.as_string()).unwrap_or_default()
        })));
    } else if let Some(token) = token.as_string() {
        parsed.socket.auth_token = Some(AuthToken::Static(token));
    } else if !token.is_undefined() {
        return Err(type_error("authToken must be a string or a function"));
    }

    let topic = field("topic");
    if let Some(topic) = topic.as_string() {
        if topic.is_empty() {
            return Err(type_error("topic must not be empty"));
        }
        parsed.topic = topic;
    } else if !topic.is_undefined() {
        return Err(type_error("topic must be a string"));
    }

    let wire = field("wire");
    if let Some(text) = wire.as_string() {
        parsed.wire = WireMode::parse(&text).ok_or_else(|| type_error("wire must be \"connection\", \"per-root\" or \"auto\""))?;
    } else if !wire.is_undefined() {
        return Err(type_error("wire must be \"connection\", \"per-root\" or \"auto\""));
    }

    if let Some(interval) = milliseconds(&field("heartbeatIntervalMs"), "heartbeatIntervalMs")? {
        parsed.socket.heartbeat_interval_ms = interval;
        parsed.socket.heartbeat_timeout_ms = interval;
    }
    if let Some(timeout) = milliseconds(&field("timeoutMs"), "timeoutMs")? {
        parsed.socket.timeout_ms = timeout;
    }

    let reconnect = field("reconnectAfterMs");
    if let Some(compute) = reconnect.dyn_ref::<js_sys::Function>() {
        let compute = compute.clone();
        let fallback = Backoff::phoenix_reconnect();
        parsed.socket.reconnect = Backoff::custom(move |attempt| {
            compute
                .call1(&JsValue::NULL, &JsValue::from(attempt))
                .ok()
                .and_then(|delay| delay.as_f64())
                .filter(|delay| delay.is_finite() && *delay >= 0.0)
                // Float → integer casts saturate.
                .map_or_else(|| fallback.base_delay(attempt), |delay| delay as u64)
        });
    } else if let Some(table) = reconnect.dyn_ref::<js_sys::Array>() {
        let mut delays = Vec::new();
        for delay in table.iter() {
            delays.push(
                milliseconds(&delay, "reconnectAfterMs entries")?.ok_or_else(|| type_error("reconnectAfterMs entries must be numbers"))?,
            );
        }
        let fallback = delays.last().copied().ok_or_else(|| type_error("reconnectAfterMs must not be empty"))?;
        parsed.socket.reconnect = Backoff::table(delays, fallback);
    } else if !reconnect.is_undefined() {
        return Err(type_error("reconnectAfterMs must be an array of numbers or a function"));
    }

    let logger = field("logger");
    if let Some(logger) = logger.dyn_ref::<js_sys::Function>() {
        parsed.logger = Some(logger.clone());
    } else if !logger.is_undefined() {
        return Err(type_error("logger must be a function"));
    }

    let uploaders = field("uploaders");
    if !uploaders.is_undefined() {
        if !uploaders.is_object() || uploaders.is_function() || js_sys::Array::is_array(&uploaders) {
            return Err(type_error("uploaders must be an object of functions by name"));
        }
        for pair in js_sys::Object::entries(uploaders.unchecked_ref()).iter() {
            let name = js_sys::Reflect::get_u32(&pair, 0).ok().and_then(|name| name.as_string()).unwrap_or_default();
            let uploader = js_sys::Reflect::get_u32(&pair, 1).unwrap_or(JsValue::UNDEFINED);
            let uploader =
                uploader.dyn_into::<js_sys::Function>().map_err(|_| type_error(&format!("uploaders[{name:?}] must be a function")))?;
            parsed.uploaders.push((name, uploader));
        }
    }

    let window = field("uploadWindow");
    if !window.is_undefined() {
        let bad = || type_error(&format!("uploadWindow must be an integer from 1 to {MAX_WINDOW}"));
        let window =
            window.as_f64().filter(|window| window.fract() == 0.0 && (1.0..=MAX_WINDOW as f64).contains(window)).ok_or_else(bad)?;
        // Within 1..=MAX_WINDOW, so the cast is exact.
        parsed.upload_window = Some(window as usize);
    }
    parsed.outbox = outbox(&field("outbox"))?;
    Ok(parsed)
}

fn params_object(value: &JsValue) -> Option<Map<String, Value>> {
    match from_js(value) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}

/// Calls a params function; anything but an object (or a throw) gives no params.
fn call_for_params(compute: &js_sys::Function) -> Map<String, Value> {
    compute.call0(&JsValue::NULL).ok().and_then(|params| params_object(&params)).unwrap_or_default()
}

/// A non-negative finite number of milliseconds, or `None` when undefined.
/// `outbox`: `true` (the default bounds), `{maxQueued, maxAgeMs}`, or `false` / absent (off).
fn outbox(value: &JsValue) -> Result<Option<OutboxConfig>, JsValue> {
    match value.as_bool() {
        Some(true) => return Ok(Some(OutboxConfig::default())),
        Some(false) => return Ok(None),
        None if value.is_undefined() || value.is_null() => return Ok(None),
        None if !value.is_object() => return Err(type_error("outbox must be a boolean or an object")),
        None => {}
    }
    let field = |name: &str| js_sys::Reflect::get(value, &name.into()).unwrap_or(JsValue::UNDEFINED);
    let mut config = OutboxConfig::default();
    let max_queued = field("maxQueued");
    if !max_queued.is_undefined() {
        let count = max_queued.as_f64().filter(|count| count.fract() == 0.0 && *count >= 1.0);
        // Float → integer casts saturate.
        config.max_queued = count.ok_or_else(|| type_error("outbox.maxQueued must be a positive integer"))? as usize;
    }
    if let Some(age) = milliseconds(&field("maxAgeMs"), "outbox.maxAgeMs")? {
        config.max_age_ms = age;
    }
    Ok(Some(config))
}

fn milliseconds(value: &JsValue, name: &str) -> Result<Option<u64>, JsValue> {
    if value.is_undefined() {
        return Ok(None);
    }
    match value.as_f64() {
        // Float → integer casts saturate.
        Some(ms) if ms.is_finite() && ms >= 0.0 => Ok(Some(ms as u64)),
        _ => Err(type_error(&format!("{name} must be a non-negative number"))),
    }
}

fn type_error(message: &str) -> JsValue {
    js_sys::TypeError::new(&format!("musubi-wasm connect(): {message}")).into()
}
