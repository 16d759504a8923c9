//! Flow-control windows (SPDY/3.1 §2.6.8): each side may send on a stream, and on the session
//! as a whole, only as much as the receiver's windows allow; the receiver reopens them with
//! WINDOW_UPDATE as it consumes. Both start at [`DEFAULT_WINDOW`]; SETTINGS
//! `INITIAL_WINDOW_SIZE` moves every stream's window (not the session's), WINDOW_UPDATE on
//! stream 0 grows the session's.

/// The window every stream and the session start with.
pub const DEFAULT_WINDOW: u32 = 64 * 1024;
/// The largest a window may grow (2^31 - 1).
pub const MAX_WINDOW: u32 = 0x7FFF_FFFF;

/// What this side may still send within one of the peer's windows. It may drop below zero
/// when the peer shrinks its initial window while bytes are in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendWindow(i64);

impl SendWindow {
    pub const fn new(initial: u32) -> Self {
        Self(initial as i64)
    }

    /// Bytes that may be sent now.
    pub fn available(&self) -> usize {
        usize::try_from(self.0.max(0)).unwrap_or(usize::MAX)
    }

    /// Takes up to `wanted` bytes of the window; returns how many.
    pub fn take(&mut self, wanted: usize) -> usize {
        let granted = wanted.min(self.available());
        self.0 -= granted as i64;
        granted
    }

    /// A WINDOW_UPDATE of `delta` (capped at [`MAX_WINDOW`]).
    pub fn grow(&mut self, delta: u32) {
        self.0 = (self.0 + i64::from(delta & MAX_WINDOW)).min(i64::from(MAX_WINDOW));
    }

    /// The peer's initial window changed by `delta` (SETTINGS).
    pub fn shift(&mut self, delta: i64) {
        self.0 = (self.0 + delta).min(i64::from(MAX_WINDOW));
    }
}

/// Up to `wanted` bytes that both the stream's and the session's windows allow, taken from
/// both.
pub fn take_both(stream: &mut SendWindow, session: &mut SendWindow, wanted: usize) -> usize {
    let granted = wanted.min(stream.available()).min(session.available());
    stream.take(granted);
    session.take(granted);
    granted
}

/// This side's window for what it receives: counts the bytes consumed and says when to
/// acknowledge them (once half the window built up, so the sender never waits on a full
/// round trip while half a window is still open).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiveWindow {
    size: u32,
    unacked: u32,
}

impl ReceiveWindow {
    pub const fn new(size: u32) -> Self {
        Self { size, unacked: 0 }
    }

    pub fn size(&self) -> u32 {
        self.size
    }

    /// `length` bytes were consumed: `Some(delta)` for a WINDOW_UPDATE to send now.
    pub fn consumed(&mut self, length: usize) -> Option<u32> {
        let length = u32::try_from(length).unwrap_or(u32::MAX);
        self.unacked = self.unacked.saturating_add(length);
        (self.unacked >= self.size / 2).then(|| std::mem::take(&mut self.unacked))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_send_window_grants_what_is_left_and_grows_with_updates() {
        let mut window = SendWindow::new(DEFAULT_WINDOW);
        assert_eq!(window.take(100_000), 65_536);
        assert_eq!(window.take(1), 0);
        window.grow(10);
        assert_eq!(window.available(), 10);
        assert_eq!(window.take(4), 4);
        assert_eq!(window.available(), 6);
        // Never beyond 2^31 - 1.
        window.grow(MAX_WINDOW);
        window.grow(MAX_WINDOW);
        assert_eq!(window.available(), MAX_WINDOW as usize);
    }

    #[test]
    fn a_smaller_initial_window_can_leave_a_stream_below_zero() {
        let mut window = SendWindow::new(DEFAULT_WINDOW);
        window.take(60_000);
        window.shift(-65_536 + 1_000);
        assert_eq!(window.available(), 0);
        // The peer's updates first pay back what was sent beyond the new window.
        window.grow(58_000);
        assert_eq!(window.available(), 0);
        window.grow(2_000);
        assert_eq!(window.available(), 1_000);
    }

    #[test]
    fn both_windows_limit_and_both_are_charged() {
        let mut stream = SendWindow::new(1_000);
        let mut session = SendWindow::new(600);
        assert_eq!(take_both(&mut stream, &mut session, 5_000), 600);
        assert_eq!((stream.available(), session.available()), (400, 0));
        assert_eq!(take_both(&mut stream, &mut session, 5_000), 0);
        session.grow(10_000);
        assert_eq!(take_both(&mut stream, &mut session, 5_000), 400);
    }

    #[test]
    fn a_receive_window_acknowledges_once_half_of_it_was_consumed() {
        let mut window = ReceiveWindow::new(1_000);
        assert_eq!(window.consumed(300), None);
        assert_eq!(window.consumed(199), None);
        assert_eq!(window.consumed(1), Some(500));
        assert_eq!(window.consumed(499), None);
        assert_eq!(window.consumed(2_000), Some(2_499));
        assert_eq!(window.size(), 1_000);
    }
}
