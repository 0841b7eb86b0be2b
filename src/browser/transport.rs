//! One `web_sys::WebSocket` and its event handlers, turned into [`TransportEvent`]s.

use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{BinaryType, CloseEvent, MessageEvent, WebSocket};

use crate::phoenix::WireMessage;

/// What the WebSocket reported.
pub(crate) enum TransportEvent {
    /// The socket opened.
    Open,
    /// A text frame.
    Text(String),
    /// A binary frame.
    Binary(Vec<u8>),
    /// The socket closed (or failed to open).
    Close {
        /// Close code.
        code: u16,
        /// Close reason.
        reason: String,
    },
}

/// An open or opening WebSocket. Dropping it detaches the handlers and closes the socket.
pub(crate) struct Transport {
    socket: WebSocket,
    _on_open: Closure<dyn FnMut()>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Transport {
    /// Opens a WebSocket; `on_event` receives its events.
    pub(crate) fn open(url: &str, protocols: &[String], on_event: impl Fn(TransportEvent) + 'static) -> Result<Self, String> {
        let socket = if protocols.is_empty() {
            WebSocket::new(url)
        } else {
            let list = protocols.iter().map(|p| wasm_bindgen::JsValue::from_str(p)).collect::<js_sys::Array>();
            WebSocket::new_with_str_sequence(url, &list)
        }
        .map_err(|error| format!("{error:?}"))?;
        socket.set_binary_type(BinaryType::Arraybuffer);
        let on_event = std::rc::Rc::new(on_event);
        let open_handler = on_event.clone();
        let on_open = Closure::<dyn FnMut()>::new(move || open_handler(TransportEvent::Open));
        let message_handler = on_event.clone();
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let data = event.data();
            if let Some(text) = frame_text(&data) {
                message_handler(TransportEvent::Text(text));
            } else if let Ok(buffer) = data.dyn_into::<js_sys::ArrayBuffer>() {
                message_handler(TransportEvent::Binary(js_sys::Uint8Array::new(&buffer).to_vec()));
            }
        });
        let on_close = Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
            on_event(TransportEvent::Close { code: event.code(), reason: event.reason() });
        });
        socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        Ok(Transport { socket, _on_open: on_open, _on_message: on_message, _on_close: on_close })
    }

    /// Sends a frame; a socket that is not open drops it. The core only sends while it thinks
    /// the line is open, but the server may already have closed it (the socket is `CLOSING` and
    /// its close event is still queued): sending then would only make the browser log an error,
    /// and the close event that follows tells the core what was lost.
    pub(crate) fn send(&self, message: &WireMessage) {
        if self.socket.ready_state() != WebSocket::OPEN {
            return;
        }
        let _ = match message {
            WireMessage::Text(text) => self.socket.send_with_str(text),
            WireMessage::Binary(bytes) => self.socket.send_with_u8_array(bytes),
        };
    }

    /// Closes with a code and reason (falls back to a plain close if the code is not allowed).
    pub(crate) fn close(self, code: u16, reason: &str) {
        self.detach();
        if self.socket.close_with_code_and_reason(code, reason).is_err() {
            let _ = self.socket.close();
        }
    }

    fn detach(&self) {
        self.socket.set_onopen(None);
        self.socket.set_onmessage(None);
        self.socket.set_onclose(None);
    }
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// The browser's `TextEncoder`, taking a JS string as it is (web-sys's binding takes `&str`,
    /// which would copy the text into wasm first).
    #[wasm_bindgen(js_name = TextEncoder)]
    type NativeEncoder;
    #[wasm_bindgen(constructor, catch, js_class = "TextEncoder")]
    fn new() -> Result<NativeEncoder, wasm_bindgen::JsValue>;
    /// Writes the UTF-8 of `text` into `into` (a view of wasm memory), as much as fits.
    #[wasm_bindgen(method, js_name = encodeInto)]
    fn encode_into(this: &NativeEncoder, text: &js_sys::JsString, into: &mut [u8]) -> EncodeProgress;
    /// What `encodeInto` reports.
    type EncodeProgress;
    /// UTF-16 units read.
    #[wasm_bindgen(method, getter)]
    fn read(this: &EncodeProgress) -> f64;
    /// Bytes written.
    #[wasm_bindgen(method, getter)]
    fn written(this: &EncodeProgress) -> f64;
}

/// Frames at least this long (UTF-16 units) are copied into wasm by the native encoder.
const NATIVE_COPY_MIN: u32 = 4096;

/// The text of a text frame, `None` for anything else. A long frame (a mount's initial state can
/// be megabytes) is written into wasm memory by the browser's `TextEncoder.encodeInto`: the
/// generic string path copies ASCII one character at a time in JS (7 ms instead of 5 for 4 MB).
fn frame_text(data: &wasm_bindgen::JsValue) -> Option<String> {
    let text = data.dyn_ref::<js_sys::JsString>()?;
    let units = text.length();
    if units >= NATIVE_COPY_MIN
        && let Some(utf8) = ENCODER.try_with(|encoder| encoder.as_ref().and_then(|encoder| encode(encoder, text, units))).ok().flatten()
    {
        return Some(utf8);
    }
    data.as_string()
}

thread_local! {
    /// The encoder of long frames, made once.
    static ENCODER: Option<NativeEncoder> = NativeEncoder::new().ok();
}

/// The UTF-8 of `text` (`units` UTF-16 units long): ASCII fills one byte per unit, so that is
/// tried first; whatever did not fit (text with other characters) is encoded after it with room
/// for three bytes per unit. Lone surrogates become U+FFFD, as in wasm-bindgen's own path.
fn encode(encoder: &NativeEncoder, text: &js_sys::JsString, units: u32) -> Option<String> {
    let mut bytes = vec![0u8; units as usize];
    let first = encoder.encode_into(text, &mut bytes);
    let read = first.read() as u32;
    bytes.truncate(first.written() as usize);
    if read < units {
        let rest = text.slice(read, units);
        let mut tail = vec![0u8; ((units - read) as usize).saturating_mul(3)];
        let more = encoder.encode_into(&rest, &mut tail);
        if more.read() as u32 != units - read {
            return None;
        }
        tail.truncate(more.written() as usize);
        bytes.extend_from_slice(&tail);
    }
    String::from_utf8(bytes).ok()
}

impl Drop for Transport {
    fn drop(&mut self) {
        self.detach();
        let state = self.socket.ready_state();
        if state == WebSocket::CONNECTING || state == WebSocket::OPEN {
            let _ = self.socket.close();
        }
    }
}
