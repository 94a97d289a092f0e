//! A passive BGP speaker's session (RFC 4271 §8), simplified for a collector
//! that never announces: the TCP connection is already accepted, so the
//! session starts in OpenSent with its OPEN queued; it answers the peer's
//! OPEN with a KEEPALIVE, is Established on the peer's first KEEPALIVE, then
//! hands out UPDATEs and keeps the timers. Any error queues a NOTIFICATION
//! and closes it; the caller sends what [`Session::transmit`] gives, then
//! closes the connection once [`Session::is_closed`].
//!
//! Time is the caller's: `now_ms` on every call, [`Session::poll_timeout`]
//! says when to call [`Session::handle_timeout`].

use std::collections::VecDeque;
use std::net::Ipv4Addr;

use crate::msg::{
    self, encode_keepalive, encode_notification, encode_open, kind, Message, MsgError, Open,
    Update, IPV4_UNICAST, IPV6_UNICAST,
};

/// Hold time before the peer's OPEN arrives (RFC 4271 §8.2.2: "4 minutes").
const OPEN_HOLD_MS: u64 = 240_000;

/// What the speaker says and expects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionConfig {
    pub local_asn: u32,
    pub router_id: Ipv4Addr,
    /// Proposed hold time in seconds (default 90); 0 proposes no timers.
    pub hold_time: u16,
    /// The peer's expected AS; 0 accepts any.
    pub peer_asn: u32,
}

impl SessionConfig {
    /// Hold time 90 s, any peer AS.
    pub fn new(local_asn: u32, router_id: Ipv4Addr) -> SessionConfig {
        SessionConfig {
            local_asn,
            router_id,
            hold_time: 90,
            peer_asn: 0,
        }
    }
}

/// RFC 4271 §8.2.2 states a passive speaker goes through once connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    OpenSent,
    OpenConfirm,
    Established,
    Closed,
}

/// What the session tells its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Established {
        peer_asn: u32,
        peer_id: Ipv4Addr,
        /// Negotiated hold time in seconds (0: no timers).
        hold_time: u16,
        four_byte_as: bool,
        /// (AFI, SAFI) both sides announced (IPv4 unicast when the peer sent
        /// no multiprotocol capability).
        families: Vec<(u16, u8)>,
    },
    Update(Update),
    Closed {
        reason: String,
        notification_sent: Option<(u8, u8)>,
        notification_received: Option<(u8, u8)>,
    },
}

/// One passive BGP session.
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    state: State,
    rx: Vec<u8>,
    tx: Vec<u8>,
    events: VecDeque<Event>,
    four_byte_as: bool,
    peer: Option<Open>,
    /// Negotiated hold time, seconds.
    hold: u16,
    hold_deadline: Option<u64>,
    keepalive_due: Option<u64>,
}

impl Session {
    /// A session on a freshly accepted connection: our OPEN (MP IPv4 and
    /// IPv6 unicast, 4-octet AS) is queued.
    pub fn new(cfg: SessionConfig, now_ms: u64) -> Session {
        let mut tx = Vec::new();
        encode_open(
            &Open {
                version: 4,
                asn: cfg.local_asn,
                hold_time: cfg.hold_time,
                bgp_id: cfg.router_id,
                four_byte_as: true,
                mp: vec![IPV4_UNICAST, IPV6_UNICAST],
            },
            &mut tx,
        );
        Session {
            cfg,
            state: State::OpenSent,
            rx: Vec::new(),
            tx,
            events: VecDeque::new(),
            four_byte_as: false,
            peer: None,
            hold: 0,
            hold_deadline: Some(now_ms.saturating_add(OPEN_HOLD_MS)),
            keepalive_due: None,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// The peer's OPEN, once received.
    pub fn peer_open(&self) -> Option<&Open> {
        self.peer.as_ref()
    }

    /// Bytes from the peer. Partial messages wait for the rest.
    pub fn receive(&mut self, bytes: &[u8], now_ms: u64) {
        if self.is_closed() {
            return;
        }
        self.rx.extend_from_slice(bytes);
        let mut at = 0;
        while !self.is_closed() {
            match self.next_message(at) {
                Ok(Some((m, used))) => {
                    at += used;
                    self.handle(m, now_ms);
                }
                Ok(None) => break,
                Err(e) => {
                    let data = if e.code == 1 && e.subcode == 2 {
                        self.rx.get(at + 16..at + 18).unwrap_or_default().to_vec()
                    } else {
                        Vec::new()
                    };
                    self.fail(e.code, e.subcode, &data, e.what.to_string());
                }
            }
        }
        if self.is_closed() {
            self.rx = Vec::new();
        } else {
            self.rx.drain(..at);
        }
    }

    /// The next message of `rx[at..]`, an UPDATE outside Established or an
    /// OPEN after one being an FSM error (RFC 6608 subcodes) before its body
    /// is looked at.
    fn next_message(&self, at: usize) -> Result<Option<(Message, usize)>, MsgError> {
        let buf = &self.rx[at..];
        let Some((t, _)) = msg::parse_header(buf)? else {
            return Ok(None);
        };
        let unexpected = matches!(
            (self.state, t),
            (State::Established, kind::OPEN)
                | (
                    State::OpenSent | State::OpenConfirm,
                    kind::UPDATE | kind::ROUTE_REFRESH
                )
                | (State::OpenSent, kind::KEEPALIVE)
                | (State::OpenConfirm, kind::OPEN)
        );
        if unexpected {
            let subcode = match self.state {
                State::OpenSent => 1,
                State::OpenConfirm => 2,
                _ => 3,
            };
            return Err(MsgError {
                code: 5,
                subcode,
                what: "unexpected message for the session state",
            });
        }
        msg::parse_message(buf, self.four_byte_as)
    }

    fn restart_hold(&mut self, now_ms: u64) {
        if self.hold != 0 {
            self.hold_deadline = Some(now_ms.saturating_add(u64::from(self.hold) * 1000));
        }
    }

    fn handle(&mut self, m: Message, now_ms: u64) {
        match m {
            Message::Open(o) => self.open(o, now_ms),
            Message::Keepalive => {
                self.restart_hold(now_ms);
                if self.state == State::OpenConfirm {
                    self.state = State::Established;
                    let Some(peer) = &self.peer else { return };
                    let families = if peer.mp.is_empty() {
                        vec![IPV4_UNICAST]
                    } else {
                        [IPV4_UNICAST, IPV6_UNICAST]
                            .into_iter()
                            .filter(|f| peer.mp.contains(f))
                            .collect()
                    };
                    self.events.push_back(Event::Established {
                        peer_asn: peer.asn,
                        peer_id: peer.bgp_id,
                        hold_time: self.hold,
                        four_byte_as: self.four_byte_as,
                        families,
                    });
                }
            }
            Message::Update(u) => {
                self.restart_hold(now_ms);
                self.events.push_back(Event::Update(u));
            }
            Message::RouteRefresh => self.restart_hold(now_ms),
            Message::Notification(n) => {
                self.close(
                    format!("NOTIFICATION {}/{} received", n.code, n.subcode),
                    None,
                    Some((n.code, n.subcode)),
                );
            }
        }
    }

    /// The peer's OPEN (RFC 4271 §6.2).
    fn open(&mut self, o: Open, now_ms: u64) {
        if o.version != 4 {
            return self.fail(
                2,
                1,
                &[0, 4],
                format!("unsupported BGP version {}", o.version),
            );
        }
        if self.cfg.peer_asn != 0 && o.asn != self.cfg.peer_asn {
            let want = self.cfg.peer_asn;
            return self.fail(2, 2, &[], format!("peer AS {} is not {want}", o.asn));
        }
        if o.bgp_id.is_unspecified() {
            return self.fail(2, 3, &[], "BGP identifier 0.0.0.0".to_string());
        }
        if o.hold_time == 1 || o.hold_time == 2 {
            return self.fail(2, 6, &[], format!("unacceptable hold time {}", o.hold_time));
        }
        self.hold = o.hold_time.min(self.cfg.hold_time);
        self.four_byte_as = o.four_byte_as;
        self.peer = Some(o);
        self.state = State::OpenConfirm;
        encode_keepalive(&mut self.tx);
        if self.hold == 0 {
            self.hold_deadline = None;
            self.keepalive_due = None;
        } else {
            self.restart_hold(now_ms);
            self.keepalive_due = Some(now_ms.saturating_add(self.keepalive_ms()));
        }
    }

    fn keepalive_ms(&self) -> u64 {
        (u64::from(self.hold) * 1000 / 3).max(1)
    }

    /// Queues a NOTIFICATION and closes.
    fn fail(&mut self, code: u8, subcode: u8, data: &[u8], reason: String) {
        encode_notification(code, subcode, data, &mut self.tx);
        self.close(reason, Some((code, subcode)), None);
    }

    fn close(&mut self, reason: String, sent: Option<(u8, u8)>, received: Option<(u8, u8)>) {
        self.state = State::Closed;
        self.hold_deadline = None;
        self.keepalive_due = None;
        self.events.push_back(Event::Closed {
            reason,
            notification_sent: sent,
            notification_received: received,
        });
    }

    /// Closes with a Cease NOTIFICATION (6/2, administrative shutdown).
    pub fn shutdown(&mut self, reason: &str) {
        if !self.is_closed() {
            self.fail(6, 2, &[], reason.to_string());
        }
    }

    /// The connection ended (EOF or error): closed, nothing to send.
    pub fn connection_lost(&mut self, reason: &str) {
        if !self.is_closed() {
            self.close(reason.to_string(), None, None);
        }
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Appends the bytes to send to `out` and forgets them.
    pub fn transmit(&mut self, out: &mut Vec<u8>) {
        out.append(&mut self.tx);
    }

    /// When [`Session::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<u64> {
        match (self.hold_deadline, self.keepalive_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Hold timer expiry: NOTIFICATION 4/0 and closed. Keepalive timer:
    /// a KEEPALIVE every hold time / 3.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if self.hold_deadline.is_some_and(|d| now_ms >= d) {
            return self.fail(4, 0, &[], "hold timer expired".to_string());
        }
        if self.keepalive_due.is_some_and(|d| now_ms >= d) {
            encode_keepalive(&mut self.tx);
            self.keepalive_due = Some(now_ms.saturating_add(self.keepalive_ms()));
        }
    }
}
