//! The driver's monotonic clock in milliseconds (`performance.now()`, or `Date.now()` where there
//! is no window).

use crate::phoenix::Millis;

thread_local! {
    /// The page's `Performance` object, looked up once (the driver reads the clock on every
    /// event).
    static PERFORMANCE: Option<web_sys::Performance> = web_sys::window().and_then(|window| window.performance());
}

/// Milliseconds since the page started.
pub fn now() -> Millis {
    let millis = PERFORMANCE
        .try_with(|performance| performance.as_ref().map(web_sys::Performance::now))
        .ok()
        .flatten()
        .unwrap_or_else(js_sys::Date::now);
    // Float → integer casts saturate; the clock is never negative.
    millis.max(0.0) as Millis
}
