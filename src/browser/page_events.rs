//! The page's `online` and `visibilitychange` events, which prompt an early reconnect.

use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;

/// Listens to `online` (window) and `visibilitychange` (document, when the page becomes visible)
/// until dropped.
pub(crate) struct PageEvents {
    callback: Closure<dyn FnMut()>,
    window: Option<web_sys::Window>,
    document: Option<web_sys::Document>,
}

impl PageEvents {
    /// Calls `on_wake` when the page comes back online or becomes visible.
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
            let _ = window.add_event_listener_with_callback("online", function);
        }
        if let Some(document) = &document {
            let _ = document.add_event_listener_with_callback("visibilitychange", function);
        }
        PageEvents { callback, window, document }
    }
}

impl Drop for PageEvents {
    fn drop(&mut self) {
        let function = self.callback.as_ref().unchecked_ref::<js_sys::Function>();
        if let Some(window) = &self.window {
            let _ = window.remove_event_listener_with_callback("online", function);
        }
        if let Some(document) = &self.document {
            let _ = document.remove_event_listener_with_callback("visibilitychange", function);
        }
    }
}
