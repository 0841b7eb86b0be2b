//! The fake clock shared by the host tests (`phoenix` socket tests, `runtime` machine tests and the
//! runtime simulation): time moves only when a test moves it, and every timer fires at its own
//! deadline, never late and never early.

use crate::phoenix::{Millis, Socket};
use crate::runtime::Runtime;

/// A sans-IO state machine with timers: it names its next deadline and is told when time passes.
pub(crate) trait Timed {
    /// The earliest deadline of an armed timer, if any.
    fn poll_timeout(&self) -> Option<Millis>;
    /// Fires every timer due at `now`.
    fn handle_timeout(&mut self, now: Millis);
}

impl Timed for Socket {
    fn poll_timeout(&self) -> Option<Millis> {
        Socket::poll_timeout(self)
    }

    fn handle_timeout(&mut self, now: Millis) {
        Socket::handle_timeout(self, now);
    }
}

impl Timed for Runtime {
    fn poll_timeout(&self) -> Option<Millis> {
        Runtime::poll_timeout(self)
    }

    fn handle_timeout(&mut self, now: Millis) {
        Runtime::handle_timeout(self, now);
    }
}

/// What is due next on a fake clock (see [`next_due`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Due {
    /// The machine's earliest timer, due at this deadline: call `handle_timeout(now)`.
    Timer(Millis),
    /// The event from outside the machine (e.g. a network delivery).
    External,
}

/// Picks what happens next, at or before `target`: the machine's earliest timer or an `external`
/// event due at that time (the external event goes first on a tie). Moves `now` to its time (never
/// backwards); returns `None`, leaving `now` alone, when nothing is due by `target`.
pub(crate) fn next_due(now: &mut Millis, target: Millis, machine: &impl Timed, external: Option<Millis>) -> Option<Due> {
    let timer = machine.poll_timeout();
    let next = match (external, timer) {
        (Some(a), Some(b)) => a.min(b),
        (Some(at), None) | (None, Some(at)) => at,
        (None, None) => return None,
    };
    if next > target {
        return None;
    }
    *now = (*now).max(next);
    if external.is_some_and(|at| at <= next) { Some(Due::External) } else { Some(Due::Timer(next)) }
}

/// A test harness that runs a [`Timed`] machine on a fake clock (its own `now`).
pub(crate) trait FakeClock {
    /// The machine whose timers the clock fires.
    type Machine: Timed;

    /// The harness's current time and its machine, borrowed together.
    fn clock_and_machine(&mut self) -> (&mut Millis, &mut Self::Machine);

    /// Runs right after each timer fired (typically: drains the machine's outputs).
    fn on_fired(&mut self);

    /// Moves the clock to `target`, firing every timer on the way at its own deadline.
    fn advance_to(&mut self, target: Millis) {
        loop {
            let (now, machine) = self.clock_and_machine();
            if next_due(now, target, machine, None).is_none() {
                break;
            }
            machine.handle_timeout(*now);
            self.on_fired();
        }
        let (now, _) = self.clock_and_machine();
        *now = (*now).max(target);
    }
}
