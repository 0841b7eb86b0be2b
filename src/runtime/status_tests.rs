use super::*;
use crate::phoenix::{ChannelId, Payload};
use ConnectionStatus::*;

fn inputs(socket: ConnectionState, all_joined: bool) -> Inputs {
    Inputs { socket, all_joined, wanted: true, attempts: 0, next_retry_at: None }
}

#[test]
fn open_means_the_socket_is_open_and_every_channel_joined() {
    let mut deriver = StatusDeriver::default();
    assert_eq!(deriver.derive(inputs(ConnectionState::Connecting, false), 1), Some(Connecting), "details filled in");
    assert_eq!((deriver.info().status, deriver.info().reason.as_str()), (Connecting, "connecting"));
    assert_eq!(deriver.derive(inputs(ConnectionState::Open, false), 2), None, "open socket, channel not joined yet");
    assert_eq!(deriver.info().status, Connecting);
    assert_eq!(deriver.derive(inputs(ConnectionState::Open, true), 3), Some(Connecting));
    assert_eq!((deriver.info().status, deriver.info().connected_at, deriver.info().reason.as_str()), (Open, Some(3), "connected"));
}

#[test]
fn a_loss_after_open_is_reconnecting_with_the_reason_attempt_and_retry_time() {
    let mut deriver = StatusDeriver::default();
    deriver.derive(inputs(ConnectionState::Open, true), 1);
    deriver.observe(&Output::Event(Event::TransportClosed { code: 1006, reason: String::new() }));
    let waiting = Inputs { next_retry_at: Some(60), ..inputs(ConnectionState::Closed, false) };
    assert_eq!(deriver.derive(waiting, 50), Some(Open));
    let info = deriver.info().clone();
    assert_eq!((info.status, info.attempt, info.next_retry_at), (Reconnecting, 1, Some(60)));
    assert_eq!(info.reason, "connection lost (code 1006)");
    // Retrying: the attempt runs; still reconnecting, and a join that times out says so.
    assert_eq!(deriver.derive(Inputs { attempts: 1, ..inputs(ConnectionState::Connecting, false) }, 60), Some(Reconnecting));
    deriver.observe(&Output::Event(Event::Channel { channel: ChannelId(1), event: ChannelEvent::JoinTimeout }));
    deriver.derive(inputs(ConnectionState::Open, false), 70);
    assert_eq!((deriver.info().status, deriver.info().reason.as_str()), (Reconnecting, "the channel join timed out; retrying"));
    deriver.derive(inputs(ConnectionState::Open, true), 80);
    assert_eq!((deriver.info().status, deriver.info().attempt, deriver.info().connected_at), (Open, 0, Some(80)));
}

#[test]
fn closed_by_the_application_or_for_good_until_reopened() {
    let mut deriver = StatusDeriver::default();
    deriver.derive(inputs(ConnectionState::Open, true), 1);
    deriver.derive(Inputs { wanted: false, ..inputs(ConnectionState::Closed, true) }, 2);
    assert_eq!((deriver.info().status, deriver.info().reason.as_str()), (Closed, "closed by the application"));
    deriver.reopened();
    deriver.derive(inputs(ConnectionState::Connecting, false), 3);
    assert_eq!(deriver.info().status, Connecting, "a fresh open connects again");
    deriver.observe(&Output::Event(Event::ConnectFailed("the auth token cannot be sent".into())));
    deriver.derive(inputs(ConnectionState::Closed, false), 4);
    assert_eq!(
        (deriver.info().status, deriver.info().reason.as_str(), deriver.info().next_retry_at),
        (Closed, "the auth token cannot be sent", None)
    );
    deriver.observe(&Output::Event(Event::Channel {
        channel: ChannelId(1),
        event: ChannelEvent::JoinRefused(Payload::Json(serde_json::json!({"reason": "unauthorized"}))),
    }));
    assert_eq!(deriver.derive(inputs(ConnectionState::Closed, false), 5), None, "a failure stays until reopened");
    assert_eq!(Reconnecting.as_str(), "reconnecting");
}
