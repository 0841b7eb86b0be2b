//! Helpers shared by the browser test files: where the devserver is, waiting, test endpoints.
#![allow(dead_code)]

use gloo_timers::future::TimeoutFuture;
use musubi_wasm::browser::now;
use serde_json::Value;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// The devserver started by the test script (baked in at compile time).
pub const SERVER: &str = match option_env!("MUSUBI_TEST_SERVER") {
    Some(url) => url,
    None => "http://127.0.0.1:4000",
};

/// The devserver's socket endpoint.
pub fn socket_url() -> String {
    format!("{}/socket", SERVER.replacen("http", "ws", 1))
}

/// Waits `ms` milliseconds.
pub async fn sleep(ms: u32) {
    TimeoutFuture::new(ms).await;
}

/// Polls `condition` every 20 ms for up to `timeout_ms`.
pub async fn wait_until(what: &str, timeout_ms: u64, condition: impl Fn() -> bool) {
    let start = now();
    while !condition() {
        if now() - start > timeout_ms {
            panic!("timed out waiting for {what}");
        }
        sleep(20).await;
    }
}

/// POSTs to a devserver test endpoint and returns its JSON answer.
pub async fn post(path: &str) -> Value {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    let request = web_sys::Request::new_with_str_and_init(&format!("{SERVER}{path}"), &init).unwrap();
    let window = web_sys::window().unwrap();
    let response: web_sys::Response = JsFuture::from(window.fetch_with_request(&request)).await.unwrap().dyn_into().unwrap();
    assert!(response.ok(), "{path} answered {}", response.status());
    let text = JsFuture::from(response.text().unwrap()).await.unwrap().as_string().unwrap();
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// GETs a devserver path and returns its JSON answer (`null` for a non-JSON body).
pub async fn get(path: &str) -> Value {
    let window = web_sys::window().unwrap();
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str(&format!("{SERVER}{path}"))).await.unwrap().dyn_into().unwrap();
    assert!(response.ok(), "{path} answered {}", response.status());
    let text = JsFuture::from(response.text().unwrap()).await.unwrap().as_string().unwrap();
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// GETs a devserver path and returns the body's bytes.
pub async fn get_bytes(path: &str) -> Vec<u8> {
    let window = web_sys::window().unwrap();
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str(&format!("{SERVER}{path}"))).await.unwrap().dyn_into().unwrap();
    assert!(response.ok(), "{path} answered {}", response.status());
    let buffer = JsFuture::from(response.array_buffer().unwrap()).await.unwrap();
    js_sys::Uint8Array::new(&buffer).to_vec()
}

/// A file of `bytes` named `name`, of MIME type `mime`.
pub fn file(name: &str, bytes: &[u8], mime: &str) -> web_sys::File {
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let options = web_sys::FilePropertyBag::new();
    options.set_type(mime);
    web_sys::File::new_with_u8_array_sequence_and_options(&parts, name, &options).unwrap()
}

/// A `FileList` of `files`, as an `<input type="file">` or a drop gives one.
pub fn file_list(files: &[web_sys::File]) -> web_sys::FileList {
    let transfer = web_sys::DataTransfer::new().unwrap();
    for file in files {
        transfer.items().add_with_file(file).unwrap();
    }
    transfer.files().unwrap()
}
