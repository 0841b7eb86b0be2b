//! The driver's monotonic clock in milliseconds (`performance.now()`, or `Date.now()` where there
//! is no window).

use crate::phoenix::Millis;

/// Milliseconds since the page started.
pub fn now() -> Millis {
    let millis = web_sys::window().and_then(|window| window.performance()).map_or_else(js_sys::Date::now, |performance| performance.now());
    // Float → integer casts saturate; the clock is never negative.
    millis.max(0.0) as Millis
}
