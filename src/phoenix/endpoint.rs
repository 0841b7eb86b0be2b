//! Endpoint URL building and the auth-token subprotocol (PROTOCOL.md §1.1–§1.2).
//!
//! ```
//! use musubi_wasm::phoenix::endpoint::{endpoint_url, PageLocation};
//! let params = serde_json::json!({"token": "t0k"});
//! let url = endpoint_url("wss://app.example/socket", params.as_object(), None)?;
//! assert_eq!(url, "wss://app.example/socket/websocket?token=t0k&vsn=2.0.0");
//! let page = PageLocation { secure: false, host: "localhost:4000".into() };
//! assert_eq!(endpoint_url("/socket", None, Some(&page))?, "ws://localhost:4000/socket/websocket?vsn=2.0.0");
//! # Ok::<(), musubi_wasm::phoenix::endpoint::EndpointError>(())
//! ```

use base64::Engine as _;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};

/// The serializer version this client speaks.
pub const VSN: &str = "2.0.0";
/// The transport suffix appended to the endpoint.
pub const TRANSPORT_SUFFIX: &str = "/websocket";
/// The subprotocol prefix that carries the auth token.
pub const AUTH_TOKEN_PREFIX: &str = "base64url.bearer.phx.";

/// Characters `encodeURIComponent` leaves alone: `A–Z a–z 0–9 - _ . ! ~ * ' ( )`.
const URI_COMPONENT: &AsciiSet =
    &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'!').remove(b'~').remove(b'*').remove(b'\'').remove(b'(').remove(b')');

/// The page a relative endpoint is resolved against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageLocation {
    /// True for `https:` pages (→ `wss:`).
    pub secure: bool,
    /// `host[:port]` of the page.
    pub host: String,
}

/// Why an endpoint URL could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// A relative endpoint was given but there is no page to resolve it against.
    #[error("endpoint `{0}` is relative but there is no page location to resolve it against")]
    RelativeWithoutPage(String),
    /// The endpoint is empty.
    #[error("endpoint is empty")]
    Empty,
}

/// Builds the WebSocket URL: endpoint + `/websocket` + `?params&vsn=2.0.0`, resolving relative
/// (`/socket`) and scheme-relative (`//host/socket`) endpoints against `page`.
pub fn endpoint_url(endpoint: &str, params: Option<&Map<String, Value>>, page: Option<&PageLocation>) -> Result<String, EndpointError> {
    if endpoint.is_empty() {
        return Err(EndpointError::Empty);
    }
    let mut url = format!("{endpoint}{TRANSPORT_SUFFIX}");
    let mut pairs = Vec::new();
    if let Some(params) = params {
        for (key, value) in params {
            flatten(&encode_component(key), value, &mut pairs);
        }
    }
    pairs.push(format!("vsn={VSN}"));
    url.push(if url.contains('?') { '&' } else { '?' });
    url.push_str(&pairs.join("&"));
    if !url.starts_with('/') {
        return Ok(url);
    }
    let page = page.ok_or_else(|| EndpointError::RelativeWithoutPage(endpoint.to_owned()))?;
    let scheme = if page.secure { "wss" } else { "ws" };
    if url.starts_with("//") { Ok(format!("{scheme}:{url}")) } else { Ok(format!("{scheme}://{}{url}", page.host)) }
}

/// The subprotocols to open the WebSocket with: none without a token, else `phoenix` and
/// `base64url.bearer.phx.<standard base64 without padding>`. A token whose Base64 form cannot be
/// a subprotocol (it contains `/`, which `Sec-WebSocket-Protocol` forbids) is refused with a
/// message saying what to change, before any socket is opened.
///
/// ```
/// use musubi_wasm::phoenix::endpoint::auth_protocols;
/// assert_eq!(auth_protocols(Some("user-42")).unwrap()[1], "base64url.bearer.phx.dXNlci00Mg");
/// assert!(auth_protocols(Some("???")).unwrap_err().contains("'/'"));
/// ```
pub fn auth_protocols(token: Option<&str>) -> Result<Vec<String>, String> {
    let Some(token) = token else { return Ok(Vec::new()) };
    let encoded = base64::engine::general_purpose::STANDARD_NO_PAD.encode(token.as_bytes());
    if let Some(bad) = encoded.chars().find(|c| !is_token_char(*c)) {
        return Err(format!(
            "the auth token cannot be sent: its Base64 form contains '{bad}', which a WebSocket subprotocol cannot carry; \
             pass a token that encodes without it (e.g. encode it as base64url or hex first)"
        ));
    }
    Ok(vec!["phoenix".to_owned(), format!("{AUTH_TOKEN_PREFIX}{encoded}")])
}

/// RFC 7230 `tchar`: what a `Sec-WebSocket-Protocol` value may consist of.
fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// Decodes the token from a requested subprotocol list (server side).
pub fn token_from_protocols<'a>(protocols: impl IntoIterator<Item = &'a str>) -> Option<String> {
    protocols.into_iter().find_map(|protocol| {
        let encoded = protocol.trim().strip_prefix(AUTH_TOKEN_PREFIX)?;
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD.decode(encoded).ok()?;
        String::from_utf8(bytes).ok()
    })
}

fn encode_component(text: &str) -> String {
    utf8_percent_encode(text, URI_COMPONENT).to_string()
}

/// phoenix.js `serialize`: nested objects (and arrays) become `parent[child]=value`; `null` adds
/// nothing; scalars use their JavaScript string form.
fn flatten(key: &str, value: &Value, pairs: &mut Vec<String>) {
    match value {
        Value::Null => {}
        Value::Object(object) => {
            for (child, child_value) in object {
                flatten(&format!("{key}[{}]", encode_component(child)), child_value, pairs);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                flatten(&format!("{key}[{index}]"), item, pairs);
            }
        }
        Value::String(text) => pairs.push(format!("{key}={}", encode_component(text))),
        Value::Bool(flag) => pairs.push(format!("{key}={flag}")),
        Value::Number(number) => pairs.push(format!("{key}={number}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn absolute_endpoint_with_params() {
        let params = json!({"token": "t0k"});
        let url = endpoint_url("wss://app.example/socket", params.as_object(), None);
        assert_eq!(url.as_deref(), Ok("wss://app.example/socket/websocket?token=t0k&vsn=2.0.0"));
    }

    #[test]
    fn no_params_appends_only_vsn() {
        assert_eq!(endpoint_url("ws://h/socket", None, None).as_deref(), Ok("ws://h/socket/websocket?vsn=2.0.0"));
    }

    #[test]
    fn relative_and_scheme_relative_bases() {
        let page = PageLocation { secure: true, host: "app.example:8443".into() };
        assert_eq!(endpoint_url("/socket", None, Some(&page)).as_deref(), Ok("wss://app.example:8443/socket/websocket?vsn=2.0.0"));
        assert_eq!(endpoint_url("//cdn.example/socket", None, Some(&page)).as_deref(), Ok("wss://cdn.example/socket/websocket?vsn=2.0.0"));
        let plain = PageLocation { secure: false, host: "localhost".into() };
        assert_eq!(endpoint_url("/socket", None, Some(&plain)).as_deref(), Ok("ws://localhost/socket/websocket?vsn=2.0.0"));
        assert_eq!(endpoint_url("/socket", None, None), Err(EndpointError::RelativeWithoutPage("/socket".into())));
        assert_eq!(endpoint_url("", None, None), Err(EndpointError::Empty));
    }

    #[test]
    fn nested_params_are_flattened_and_encoded_like_encode_uri_component() {
        let params = json!({"user": {"id": 7, "name": "a b&c"}, "flag": true, "skip": null, "list": ["x", "y"], "odd key": "(ok)!*'~"});
        let url = endpoint_url("ws://h/s", params.as_object(), None).unwrap_or_default();
        assert_eq!(url, "ws://h/s/websocket?flag=true&list[0]=x&list[1]=y&odd%20key=(ok)!*'~&user[id]=7&user[name]=a%20b%26c&vsn=2.0.0");
    }

    #[test]
    fn existing_query_uses_ampersand() {
        assert_eq!(endpoint_url("ws://h/s?x=1", None, None).as_deref(), Ok("ws://h/s?x=1/websocket&vsn=2.0.0"));
    }

    #[test]
    fn auth_token_subprotocol_is_standard_base64_without_padding() {
        assert_eq!(auth_protocols(None), Ok(Vec::new()));
        assert_eq!(auth_protocols(Some("user-42")), Ok(vec!["phoenix".to_owned(), "base64url.bearer.phx.dXNlci00Mg".to_owned()]));
        assert_eq!(token_from_protocols(["phoenix", " base64url.bearer.phx.dXNlci00Mg"]), Some("user-42".to_owned()));
        assert_eq!(token_from_protocols(["phoenix"]), None);
        // `+` and `/` come from the standard alphabet: `+` is a token character, `/` is not, so a
        // token whose Base64 has a `/` can never be sent (the browser's constructor would throw).
        assert_eq!(auth_protocols(Some(">>>")).map(|p| p[1].clone()), Ok("base64url.bearer.phx.Pj4+".to_owned()));
        let refused = auth_protocols(Some("???")).unwrap_err();
        assert!(refused.contains("'/'") && refused.contains("base64url"), "{refused}");
    }
}
