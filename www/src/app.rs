//! The demo's DOM wiring (plain web-sys; the Leptos demo arrives with the Leptos integration).

use std::rc::Rc;

use musubi_wasm::browser::{Channel, Socket, Subscription, now};
use musubi_wasm::phoenix::{ChannelEvent, Event, Payload, SocketOptions};
use serde_json::json;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use wasm_bindgen_futures::spawn_local;
use web_sys::{Document, Element, HtmlInputElement};

const TOPIC: &str = "echo:demo";

/// Starts the demo; the socket and subscriptions live for the life of the page.
pub fn start() {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else { return };
    let page = Rc::new(Page { document });
    let socket = Socket::connect("/socket", SocketOptions::default());
    let channel = socket.channel(TOPIC, json!({}));
    keep(watch_socket(&page, &socket));
    page.set_badge("state", &format!("{:?}", socket.state()));
    keep(watch_channel(&page, &channel));
    {
        let channel = channel.clone();
        spawn_local(async move {
            let _ = channel.join().await;
        });
    }
    page.on_click("ping", {
        let (page, channel) = (page.clone(), channel.clone());
        move || {
            let (page, channel) = (page.clone(), channel.clone());
            spawn_local(async move {
                let started = now();
                let text = match channel.push("echo", json!({"ping": started})).await {
                    Ok(reply) if reply.is_ok() => format!("round trip {} ms", now().saturating_sub(started)),
                    Ok(reply) => format!("server said {}", reply.status.as_str()),
                    Err(error) => format!("push failed: {error}"),
                };
                page.set_text("rtt", &text);
            });
        }
    });
    page.on_click("send", {
        let (page, channel) = (page.clone(), channel.clone());
        move || {
            let Some(input) = page.element("text").and_then(|e| e.dyn_into::<HtmlInputElement>().ok()) else { return };
            let text = input.value();
            input.set_value("");
            let channel = channel.clone();
            spawn_local(async move {
                let _ = channel.push("broadcast", json!({"event": "said", "payload": {"text": text}})).await;
            });
        }
    });
    page.on_click("drop", || spawn_local(post("/_test/drop?code=4000".to_owned())));
    page.on_click("crash", || spawn_local(post(format!("/_test/crash?topic={TOPIC}"))));
    std::mem::forget(socket);
}

fn keep(subscription: Subscription) {
    subscription.forget();
}

fn watch_socket(page: &Rc<Page>, socket: &Socket) -> Subscription {
    let page = page.clone();
    let attempts_socket = socket.clone();
    socket.on_event(move |event| match event {
        Event::State(state) => {
            page.set_badge("state", &format!("{state:?}"));
            page.log(&format!("socket {state:?}"));
            page.set_text("attempts", "");
        }
        Event::ReconnectScheduled { attempt, delay, .. } => {
            page.set_text("attempts", &format!("reconnect attempt {attempt} in {delay} ms"));
            page.log(&format!("reconnect attempt {attempt} scheduled in {delay} ms ({} so far)", attempts_socket.reconnect_attempts()));
        }
        Event::TransportClosed { code, reason } => page.log(&format!("transport closed: {code} {reason}")),
        Event::FrameError(error) => page.log(&format!("bad frame dropped: {error}")),
        Event::InvalidEndpoint(error) => page.log(&format!("invalid endpoint: {error}")),
        Event::Channel { .. } => {}
    })
}

fn watch_channel(page: &Rc<Page>, channel: &Channel) -> Subscription {
    let page = page.clone();
    channel.on_event(move |event| match event {
        ChannelEvent::State(state) => {
            page.set_badge("channel", &format!("{state:?}"));
            page.log(&format!("channel {state:?}"));
        }
        ChannelEvent::Message { event, payload: Payload::Json(payload) } if event == "said" => {
            let text = payload.get("text").and_then(|t| t.as_str()).unwrap_or_default();
            page.add_message(text);
        }
        ChannelEvent::Errored(cause) => page.log(&format!("channel errored: {cause:?}")),
        ChannelEvent::JoinRefused(response) => page.log(&format!("join refused: {response:?}")),
        _ => {}
    })
}

async fn post(path: String) {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    if let Some(window) = web_sys::window() {
        let _ = wasm_bindgen_futures::JsFuture::from(window.fetch_with_str_and_init(&path, &init)).await;
    }
}

struct Page {
    document: Document,
}

impl Page {
    fn element(&self, id: &str) -> Option<Element> {
        self.document.get_element_by_id(id)
    }

    fn set_text(&self, id: &str, text: &str) {
        if let Some(element) = self.element(id) {
            element.set_text_content(Some(text));
        }
    }

    fn set_badge(&self, id: &str, state: &str) {
        if let Some(element) = self.element(id) {
            element.set_text_content(Some(state));
            element.set_class_name(&format!("badge {state}"));
        }
    }

    fn log(&self, line: &str) {
        if let Some(log) = self.element("log") {
            let stamp = now() as f64 / 1000.0;
            let previous = log.text_content().unwrap_or_default();
            log.set_text_content(Some(&format!("[{stamp:8.3}] {line}\n{previous}")));
        }
    }

    fn add_message(&self, text: &str) {
        if let (Some(list), Ok(item)) = (self.element("messages"), self.document.create_element("li")) {
            item.set_text_content(Some(text));
            let _ = list.append_child(&item);
        }
    }

    fn on_click(&self, id: &str, handler: impl Fn() + 'static) {
        if let Some(element) = self.element(id) {
            let closure = Closure::<dyn Fn()>::new(handler);
            let _ = element.add_event_listener_with_callback("click", closure.as_ref().unchecked_ref());
            closure.forget();
        }
    }
}
