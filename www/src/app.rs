//! The demo's DOM wiring (plain web-sys; the Leptos demo arrives with the Leptos integration):
//! a shared counter and a board mounted from the devserver, with buttons that inject faults.

// Indexing here is `serde_json::Value[&str]`, which yields `Null` for a missing key and never panics.
#![allow(clippy::indexing_slicing)]

use std::rc::Rc;

use musubi_wasm::browser::{RootHandle, Subscription, SyncClient, now};
use musubi_wasm::phoenix::{Event, SocketOptions};
use musubi_wasm::runtime::{MountSpec, RuntimeEvent, StoreId};
use serde_json::json;
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use wasm_bindgen_futures::spawn_local;
use web_sys::{Document, Element, HtmlInputElement};

const COUNTER_ID: &str = "demo-counter";
const BOARD_ID: &str = "demo-board";

/// Starts the demo; everything it creates lives for the life of the page.
pub fn start() {
    let Some(document) = web_sys::window().and_then(|w| w.document()) else { return };
    let page = Rc::new(Page { document });
    let client = SyncClient::connect("/socket", SocketOptions::default());
    page.set_badge("state", &format!("{:?}", client.state()));
    keep(watch_client(&page, &client));
    let app = Rc::new(App { page: page.clone(), client: client.clone() });
    app.listen_for_clicks();
    spawn_local(async move {
        let counter = app.mount("Demo.CounterStore", COUNTER_ID).await;
        let board = app.mount("Demo.BoardStore", BOARD_ID).await;
        if let (Some(counter), Some(board)) = (counter, board) {
            app.render_counter(&counter);
            app.render_board(&board);
            let (a, b) = (app.clone(), counter.clone());
            keep(counter.store(StoreId::root()).subscribe(move || a.render_counter(&b)));
            let (a, b) = (app.clone(), board.clone());
            keep(board.store(StoreId::root()).subscribe(move || a.render_board(&b)));
            APP.with(|slot| *slot.borrow_mut() = Some((app, counter, board)));
        }
    });
}

thread_local! {
    static APP: std::cell::RefCell<Option<(Rc<App>, RootHandle, RootHandle)>> = const { std::cell::RefCell::new(None) };
}

fn keep(subscription: Subscription) {
    subscription.forget();
}

fn watch_client(page: &Rc<Page>, client: &SyncClient) -> Subscription {
    let page = page.clone();
    client.on_event(move |event| match event {
        RuntimeEvent::Socket(Event::State(state)) => {
            page.set_badge("state", &format!("{state:?}"));
            page.log(&format!("socket {state:?}"));
        }
        RuntimeEvent::Socket(Event::ReconnectScheduled { attempt, delay, .. }) => {
            page.log(&format!("reconnect attempt {attempt} in {delay} ms"))
        }
        RuntimeEvent::Socket(Event::TransportClosed { code, reason }) => page.log(&format!("transport closed: {code} {reason}")),
        RuntimeEvent::RootStatus { root_id, status, .. } => {
            page.set_badge(&format!("status-{root_id}"), &format!("{status:?}"));
            page.log(&format!("{root_id}: {status:?}"));
        }
        RuntimeEvent::Diagnostic { message, .. } => page.log(message),
        _ => {}
    })
}

struct App {
    page: Rc<Page>,
    client: SyncClient,
}

impl App {
    async fn mount(&self, module: &str, id: &str) -> Option<RootHandle> {
        match self.client.mount(MountSpec { module: module.into(), id: id.into(), params: json!({}) }).await {
            Ok(root) => {
                self.page.set_badge(&format!("status-{id}"), "Live");
                Some(root)
            }
            Err(error) => {
                self.page.log(&format!("mount {id} failed: {error}"));
                None
            }
        }
    }

    fn render_counter(&self, root: &RootHandle) {
        let Some(snapshot) = root.store(StoreId::root()).snapshot().map(|s| s.to_json()) else { return };
        self.page.set_text("count", &snapshot["count"].to_string());
        self.page.set_text("label", snapshot["label"].as_str().unwrap_or_default());
        let items: String = snapshot["log"]
            .as_array()
            .map(|log| log.iter().take(8).map(|item| format!("<li>{}</li>", escape(item["text"].as_str().unwrap_or_default()))).collect())
            .unwrap_or_default();
        self.page.set_html("counter-log", &items);
    }

    fn render_board(&self, root: &RootHandle) {
        let Some(snapshot) = root.store(StoreId::root()).snapshot().map(|s| s.to_json()) else { return };
        let cards: String = snapshot["cards"]
            .as_array()
            .map(|cards| {
                cards
                    .iter()
                    .map(|card| {
                        let id = card["__musubi_store_id__"][1].as_str().unwrap_or_default();
                        let done = card["done"].as_bool().unwrap_or(false);
                        format!(
                            r#"<li class="card{}"><input type="checkbox" data-action="toggle" data-id="{id}"{}> <span>{}</span> <button data-action="remove" data-id="{id}">✕</button></li>"#,
                            if done { " done" } else { "" },
                            if done { " checked" } else { "" },
                            escape(card["title"].as_str().unwrap_or_default())
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.page.set_html("cards", &cards);
        let stats = &snapshot["stats"];
        let text = match stats["status"].as_str() {
            Some("ok") => format!("{} cards", stats["data"]["cards"]),
            Some(status) => status.to_owned(),
            None => String::new(),
        };
        self.page.set_text("stats", &text);
    }

    fn listen_for_clicks(self: &Rc<Self>) {
        let app = self.clone();
        let handler = Closure::<dyn Fn(web_sys::Event)>::new(move |event: web_sys::Event| {
            let Some(target) = event.target().and_then(|t| t.dyn_into::<Element>().ok()) else { return };
            let Some(action) = target.get_attribute("data-action") else { return };
            let id = target.get_attribute("data-id").unwrap_or_default();
            app.act(&action, &id);
        });
        let _ = self.page.document.add_event_listener_with_callback("click", handler.as_ref().unchecked_ref());
        handler.forget();
    }

    fn act(&self, action: &str, id: &str) {
        let roots = APP.with(|slot| slot.borrow().as_ref().map(|(_, counter, board)| (counter.clone(), board.clone())));
        let input = |name: &str| {
            let element = self.page.element(name).and_then(|e| e.dyn_into::<HtmlInputElement>().ok());
            let value = element.as_ref().map(HtmlInputElement::value).unwrap_or_default();
            if let Some(element) = element {
                element.set_value("");
            }
            value
        };
        let page = self.page.clone();
        let fault = |path: String| spawn_local(post(path));
        let Some((counter, board)) = roots else { return };
        let (store, name, payload) = match action {
            "increment" => (counter.store(StoreId::root()), "increment", json!({"by": 1})),
            "set_label" => (counter.store(StoreId::root()), "set_label", json!({"label": input("label-input")})),
            "add_card" => (board.store(StoreId::root()), "add_card", json!({"title": input("card-input")})),
            "toggle" => (board.store(StoreId::from(["cards", id])), "toggle", json!({})),
            "remove" => (board.store(StoreId::root()), "remove_card", json!({"id": id})),
            "drop" => return fault("/_test/drop?code=4000".into()),
            "gap" => return fault(format!("/_test/gap?root_id={COUNTER_ID}")),
            "corrupt" => return fault(format!("/_test/corrupt?root_id={BOARD_ID}")),
            _ => return,
        };
        spawn_local(async move {
            if let Err(error) = store.command(name, payload).await {
                page.log(&format!("{name} failed: {error}"));
            }
        });
    }
}

async fn post(path: String) {
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    if let Some(window) = web_sys::window() {
        let _ = wasm_bindgen_futures::JsFuture::from(window.fetch_with_str_and_init(&path, &init)).await;
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
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

    fn set_html(&self, id: &str, html: &str) {
        if let Some(element) = self.element(id) {
            element.set_inner_html(html);
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
            let kept: String = previous.lines().take(200).map(|l| format!("{l}\n")).collect();
            log.set_text_content(Some(&format!("[{stamp:8.3}] {line}\n{kept}")));
        }
    }
}
