//! The page's wake-up events — `online`, `pageshow` (window), `visibilitychange` to visible and
//! `resume` (document) — which make the socket reconnect now or probe an open connection.

use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

/// Wake-up events of the window.
const WINDOW_EVENTS: [&str; 2] = ["online", "pageshow"];
/// Wake-up events of the document (each only counts while the page is visible).
const DOCUMENT_EVENTS: [&str; 2] = ["visibilitychange", "resume"];

/// Listens to the wake-up events (the document ones only count while the page is visible)
/// until dropped.
pub(crate) struct PageEvents {
    callback: Closure<dyn FnMut()>,
    window: Option<web_sys::Window>,
    document: Option<web_sys::Document>,
}

impl PageEvents {
    /// Calls `on_wake` when the page comes back online, becomes visible, or is restored.
    pub(crate) fn listen(on_wake: impl Fn() + 'static) -> Self {
        let window = web_sys::window();
        let document = window.as_ref().and_then(web_sys::Window::document);
        let visible_document = document.clone();
        let callback = Closure::<dyn FnMut()>::new(move || {
            let visible = visible_document.as_ref().is_none_or(|doc| doc.visibility_state() == web_sys::VisibilityState::Visible);
            if visible {
                on_wake();
            }
        });
        let function = callback.as_ref().unchecked_ref::<js_sys::Function>();
        if let Some(window) = &window {
            // Registering a listener only fails for a non-callable, which this is not.
            for event in WINDOW_EVENTS {
                let _ = window.add_event_listener_with_callback(event, function);
            }
        }
        if let Some(document) = &document {
            for event in DOCUMENT_EVENTS {
                let _ = document.add_event_listener_with_callback(event, function);
            }
        }
        PageEvents { callback, window, document }
    }
}

impl Drop for PageEvents {
    fn drop(&mut self) {
        let function = self.callback.as_ref().unchecked_ref::<js_sys::Function>();
        if let Some(window) = &self.window {
            for event in WINDOW_EVENTS {
                let _ = window.remove_event_listener_with_callback(event, function);
            }
        }
        if let Some(document) = &self.document {
            for event in DOCUMENT_EVENTS {
                let _ = document.remove_event_listener_with_callback(event, function);
            }
        }
    }
}
