//! One call's typed states. An [`IncomingCall`] is offered: it can only be answered or
//! rejected. Answering yields an [`ActiveCall`] (hang up, transfer, DTMF) plus the call's
//! events; a call we placed ([`PlacedCall`]) can hang up and send DTMF, nothing else.
//! Behind them, one [`CallState`] under one lock, driven by the call task.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rsipstack::dialog::dialog::{Dialog, DialogState, DialogStateReceiver, TerminatedReason};
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::headers::make_header;
use rsipstack::sip::{Header, Method, Request, StatusCode};
use rsipstack::transaction::key::TransactionRole;
use tokio::sync::{mpsc, oneshot};

use crate::admission::{self, InfoDtmf};
use crate::sdp::{self, NegotiatedMedia, SdpOrigin};
use crate::server::{ServerShared, SlotGuard, content_type, rand_u32};
use crate::{Result, SipError};

/// How long answer() waits for the ACK of a late-offer 200.
const ACK_WAIT: Duration = Duration::from_secs(32);
/// How long transfer() waits for the final NOTIFY after 202.
const NOTIFY_WAIT: Duration = Duration::from_secs(30);

/// One SIP header, name and value as on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipHeader {
    pub name: String,
    pub value: String,
}

impl SipHeader {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// The caller's SDP offer, as plain data.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteOffer {
    pub remote_rtp: SocketAddr,
    pub codecs: Vec<sdp::Codec>,
    pub telephone_event_pt: Option<u8>,
    pub ptime: Option<u32>,
}

/// Why a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    RemoteBye,
    /// CANCEL before we answered.
    Cancelled,
    /// We hung up (or rejected).
    LocalHangup,
    /// No ACK for our 200, or a transaction timed out.
    Timeout,
    /// The caller never refreshed the RFC 4028 session.
    SessionExpired,
    Other(String),
}

/// Events for the call loop.
#[derive(Debug, Clone, PartialEq)]
pub enum CallEvent {
    /// ACK received: the dialog is confirmed.
    Confirmed,
    /// DTMF from SIP INFO (fallback to RFC 4733).
    Dtmf(InfoDtmf),
    /// re-INVITE/UPDATE changed the media (new address, hold/unhold). `media.on_hold()`
    /// says whether we must stop sending.
    MediaChanged(NegotiatedMedia),
    /// The call is over; no more events follow.
    Ended(EndReason),
}

/// A call's events, in order; `Ended` is the last.
pub type CallEvents = mpsc::UnboundedReceiver<CallEvent>;

/// Final result of a blind transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferOutcome {
    /// The NOTIFY sipfrag reported 2xx: the caller is connected to the target.
    /// Hang up (the transferee usually sends BYE itself).
    Succeeded(u16),
    /// The REFER was refused (status of its response).
    Rejected(u16),
    /// The referred call failed (sipfrag status).
    Failed(u16),
    /// 202, but no final NOTIFY in time.
    NoFinalNotify,
}

/// Our side of the media session, once we answered (or offered).
pub(crate) struct LocalMedia {
    pub(crate) local_rtp: SocketAddr,
    pub(crate) media: NegotiatedMedia,
    pub(crate) origin: SdpOrigin,
}

/// Where a call is. Each state holds only what is valid in it.
pub(crate) enum CallState {
    /// INVITE received, not answered (incoming calls only).
    Offered,
    /// 200 sent, no ACK yet. A late-offer `answer` waits on `on_ack` for the ACK's SDP.
    Answered {
        local: LocalMedia,
        on_ack: Option<oneshot::Sender<()>>,
    },
    /// ACK received (incoming) or sent (placed). `on_final_notify`: a transfer waiting
    /// for the final NOTIFY of its REFER.
    Confirmed {
        local: LocalMedia,
        on_final_notify: Option<oneshot::Sender<u16>>,
    },
    Ended,
}

impl CallState {
    fn local_mut(&mut self) -> Option<&mut LocalMedia> {
        match self {
            CallState::Answered { local, .. } | CallState::Confirmed { local, .. } => Some(local),
            CallState::Offered | CallState::Ended => None,
        }
    }
    fn is_up(&self) -> bool {
        matches!(
            self,
            CallState::Answered { .. } | CallState::Confirmed { .. }
        )
    }
}

/// What the server, the call task and the handles of one call share.
pub(crate) struct CallShared {
    pub(crate) dialog: InviteDialog,
    pub(crate) offer: Option<sdp::RemoteSdp>,
    pub(crate) state: Mutex<CallState>,
    /// RFC 4028 interval (s) the caller refreshes; None = no session timer.
    pub(crate) session_expires: Option<u32>,
    pub(crate) events: mpsc::UnboundedSender<CallEvent>,
    pub(crate) server: Arc<ServerShared>,
    /// Where a dropped handle sends its BYE from (it may drop on a non-tokio thread).
    pub(crate) rt: tokio::runtime::Handle,
}

impl CallShared {
    /// The state, even if a thread panicked holding the lock (the state stays consistent:
    /// every update is a single assignment).
    fn state(&self) -> MutexGuard<'_, CallState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// An up call's handle clones share one `Leg`; the last one dropped while the call is
/// still up sends BYE, so a call loop that fails or panics still ends its call.
struct Leg {
    call: Arc<CallShared>,
}

impl Drop for Leg {
    fn drop(&mut self) {
        if self.call.state().is_up() {
            let dialog = self.call.dialog.clone();
            // rsipstack makes a BYE on a terminated dialog a no-op.
            self.call.rt.spawn(async move {
                let _ = dialog.bye().await;
            });
        }
    }
}

impl Leg {
    fn dialog_id(&self) -> String {
        self.call.dialog.id().to_string()
    }

    async fn hangup(&self) -> Result<()> {
        if !self.call.state().is_up() {
            return Ok(());
        }
        self.call.dialog.bye().await.map_err(SipError::from)
    }

    async fn send_info_dtmf(&self, digit: char, duration_ms: u32) -> Result<()> {
        let body = format!("Signal={digit}\r\nDuration={duration_ms}\r\n");
        let headers = vec![Header::ContentType("application/dtmf-relay".into())];
        self.call
            .dialog
            .info(Some(headers), Some(body.into_bytes()))
            .await?;
        Ok(())
    }
}

/// A new call, offered to the call loop: answer or reject it. Dropping it unanswered
/// rejects it with 480.
pub struct IncomingCall {
    pub call_id: String,
    /// Caller's URI user part (or the whole URI when it has none).
    pub from: String,
    /// Called user part (the number/extension dialled).
    pub to: String,
    /// Signalling source address.
    pub source: SocketAddr,
    /// All request headers except Via/Route, in order.
    pub headers: Vec<SipHeader>,
    /// None for a late-offer INVITE (no SDP): `answer` then sends the offer.
    pub offer: Option<RemoteOffer>,
    call: Arc<CallShared>,
    /// Taken by `answer`; None only after that.
    events: Option<CallEvents>,
}

impl std::fmt::Debug for IncomingCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IncomingCall")
            .field("call_id", &self.call_id)
            .field("from", &self.from)
            .field("to", &self.to)
            .field("source", &self.source)
            .field("offer", &self.offer)
            .finish_non_exhaustive()
    }
}

/// An answered incoming call: its handle, the negotiated media (RTP may flow) and its
/// events (`Confirmed`, DTMF via INFO, media changes, `Ended`).
#[derive(Debug)]
pub struct AnsweredCall {
    pub call: ActiveCall,
    pub media: NegotiatedMedia,
    pub events: CallEvents,
}

/// An answered incoming call's commands. Cheap to clone; when the last clone is dropped
/// while the call is up, it sends BYE.
#[derive(Clone)]
pub struct ActiveCall {
    leg: Arc<Leg>,
}

/// A call ivr placed (the agent leg of a bridge transfer), answered and confirmed.
#[derive(Debug)]
pub struct OutgoingCall {
    pub call_id: String,
    /// What the callee answered: same codec and DTMF PT as offered.
    pub media: NegotiatedMedia,
    pub call: PlacedCall,
    /// BYE from the callee, session end (no `Confirmed`: dial returns once confirmed).
    pub events: CallEvents,
}

/// A placed call's commands: hang up and DTMF (no transfer). Cheap to clone; when the
/// last clone is dropped while the call is up, it sends BYE.
#[derive(Clone)]
pub struct PlacedCall {
    leg: Arc<Leg>,
}

impl std::fmt::Debug for ActiveCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActiveCall")
            .field("dialog", &self.leg.dialog_id())
            .finish()
    }
}

impl std::fmt::Debug for PlacedCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlacedCall")
            .field("dialog", &self.leg.dialog_id())
            .finish()
    }
}

impl IncomingCall {
    pub(crate) fn new(
        call: Arc<CallShared>,
        events: CallEvents,
        info: IncomingCallInfo,
    ) -> IncomingCall {
        IncomingCall {
            call_id: info.call_id,
            from: info.from,
            to: info.to,
            source: info.source,
            headers: info.headers,
            offer: info.offer,
            call,
            events: Some(events),
        }
    }

    /// The SIP dialog id (Call-ID + tags), for logs.
    pub fn dialog_id(&self) -> String {
        self.call.dialog.id().to_string()
    }

    /// The next event before answering: `Ended(Cancelled)` when the caller gives up.
    pub async fn next_event(&mut self) -> Option<CallEvent> {
        self.events.as_mut()?.recv().await
    }

    /// Answer with 200 OK, our RTP at `local_rtp`. Early offer: returns at once with the
    /// negotiated media (RTP may start). Late offer: sends our offer in the 200 and waits
    /// for the ACK's answer. On failure the call is ended (480 before the 200, BYE after).
    pub async fn answer(mut self, local_rtp: SocketAddr) -> Result<AnsweredCall> {
        let origin = SdpOrigin {
            session_id: u64::from(rand_u32()),
            version: 1,
        };
        let mut headers = vec![Header::ContentType("application/sdp".into())];
        if let Some(se) = self.call.session_expires {
            headers.push(make_header(
                "Session-Expires",
                format!("{se};refresher=uac"),
            ));
            headers.push(make_header("Require", "timer".into()));
        }
        headers.push(make_header("Supported", "timer".into()));
        let (body, early_media) = match &self.call.offer {
            Some(offer) => {
                let media = sdp::negotiate(offer)?;
                (sdp::build_answer(local_rtp, &media, origin), Some(media))
            }
            None => (sdp::build_offer(local_rtp, origin), None),
        };
        let (ack_tx, ack_rx) = oneshot::channel();
        {
            let mut state = self.call.state();
            if !matches!(*state, CallState::Offered) {
                return Err(SipError::State("answer"));
            }
            *state = CallState::Answered {
                local: LocalMedia {
                    local_rtp,
                    // Late offer: a placeholder until the ACK's answer.
                    media: early_media.unwrap_or(NegotiatedMedia {
                        codec: sdp::Codec::Pcmu,
                        remote_rtp: SocketAddr::from(([0, 0, 0, 0], 0)),
                        dtmf_pt: None,
                        ptime: 20,
                        direction: sdp::Direction::SendRecv,
                    }),
                    origin,
                },
                on_ack: early_media.is_none().then_some(ack_tx),
            };
        }
        // From here on, returning early drops `call`, which sends BYE.
        let call = ActiveCall {
            leg: Arc::new(Leg {
                call: self.call.clone(),
            }),
        };
        let events = self.events.take().ok_or(SipError::State("answer"))?;
        let shared = &call.leg.call;
        shared
            .dialog
            .accept(Some(headers), Some(body.into_bytes()))?;
        if let Some(media) = early_media {
            return Ok(AnsweredCall {
                call,
                media,
                events,
            });
        }
        // Late offer: the answer is in the ACK.
        tokio::time::timeout(ACK_WAIT, ack_rx)
            .await
            .map_err(|_| SipError::Timeout("ACK"))?
            .map_err(|_| SipError::Ended("before ACK".into()))?;
        let ack = match shared.server.dialog_layer.get_dialog(&shared.dialog.id()) {
            Some(Dialog::Invite(d)) => d.last_remote_ack(),
            _ => None,
        }
        .or_else(|| shared.dialog.last_remote_ack())
        .ok_or(SipError::State("ACK without answer"))?;
        let answer = sdp::parse(&ack.body)?;
        let media = sdp::apply_answer(&answer)?;
        if let Some(local) = shared.state().local_mut() {
            local.media = media;
        }
        Ok(AnsweredCall {
            call,
            media,
            events,
        })
    }

    /// Refuse the call (e.g. 486, 480, 503).
    pub fn reject(self, code: u16, reason: Option<String>) -> Result<()> {
        *self.call.state() = CallState::Ended;
        self.call
            .dialog
            .reject(Some(StatusCode::from(code)), reason)
            .map_err(SipError::from)
    }
}

impl Drop for IncomingCall {
    fn drop(&mut self) {
        if matches!(*self.call.state(), CallState::Offered) {
            let _ = self.call.dialog.reject(
                Some(StatusCode::from(480)),
                Some("hangup before answer".into()),
            );
        }
    }
}

/// The plain data of a new INVITE, for [`IncomingCall::new`].
pub(crate) struct IncomingCallInfo {
    pub(crate) call_id: String,
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) source: SocketAddr,
    pub(crate) headers: Vec<SipHeader>,
    pub(crate) offer: Option<RemoteOffer>,
}

impl ActiveCall {
    /// The SIP dialog id (Call-ID + tags), for logs.
    pub fn dialog_id(&self) -> String {
        self.leg.dialog_id()
    }

    /// End the call with BYE. No-op once it ended.
    pub async fn hangup(&self) -> Result<()> {
        self.leg.hangup().await
    }

    /// Blind transfer (RFC 3515): REFER to `target_uri` with extra headers (e.g.
    /// `X-IVR-Call-Id`), then wait for the final NOTIFY. On success, hang up.
    /// Only once the call is confirmed (ACK received).
    pub async fn transfer(
        &self,
        target_uri: &str,
        headers: Vec<SipHeader>,
    ) -> Result<TransferOutcome> {
        let shared = &self.leg.call;
        let (notify_tx, notify_rx) = oneshot::channel();
        match &mut *shared.state() {
            CallState::Confirmed {
                on_final_notify, ..
            } => *on_final_notify = Some(notify_tx),
            _ => return Err(SipError::State("transfer")),
        }
        let refer_to = if target_uri.starts_with('<') {
            target_uri.to_string()
        } else {
            format!("<{target_uri}>")
        };
        let mut hdrs = vec![
            make_header("Refer-To", refer_to),
            make_header(
                "Referred-By",
                format!(
                    "<sip:{}@{}>",
                    shared.server.cfg.user_agent, shared.server.contact_host
                ),
            ),
        ];
        for h in headers {
            hdrs.push(make_header(&h.name, h.value));
        }
        let resp = shared
            .dialog
            .request(Method::Refer, Some(hdrs), None)
            .await?;
        let code = resp.map(|r| u16::from(r.status_code)).unwrap_or(408);
        if !(200..300).contains(&code) {
            return Ok(TransferOutcome::Rejected(code));
        }
        match tokio::time::timeout(NOTIFY_WAIT, notify_rx).await {
            Ok(Ok(status)) if (200..300).contains(&status) => {
                Ok(TransferOutcome::Succeeded(status))
            }
            Ok(Ok(status)) => Ok(TransferOutcome::Failed(status)),
            _ => Ok(TransferOutcome::NoFinalNotify),
        }
    }

    /// Send a DTMF digit as SIP INFO (`application/dtmf-relay`), for peers without RFC 4733.
    pub async fn send_info_dtmf(&self, digit: char, duration_ms: u32) -> Result<()> {
        self.leg.send_info_dtmf(digit, duration_ms).await
    }
}

impl PlacedCall {
    pub(crate) fn new(call: Arc<CallShared>) -> PlacedCall {
        PlacedCall {
            leg: Arc::new(Leg { call }),
        }
    }

    /// The SIP dialog id (Call-ID + tags), for logs.
    pub fn dialog_id(&self) -> String {
        self.leg.dialog_id()
    }

    /// End the call with BYE. No-op once it ended.
    pub async fn hangup(&self) -> Result<()> {
        self.leg.hangup().await
    }

    /// Send a DTMF digit as SIP INFO (`application/dtmf-relay`), for peers without RFC 4733.
    pub async fn send_info_dtmf(&self, digit: char, duration_ms: u32) -> Result<()> {
        self.leg.send_info_dtmf(digit, duration_ms).await
    }
}

/// Follows one call's dialog states until it ends: confirms, answers re-INVITE/UPDATE,
/// INFO, NOTIFY and OPTIONS, enforces the session timer.
/// `_slot`: the admission slot of an incoming call, released when the task ends
/// (None for legs we placed ourselves, which do not count against `max_calls`).
pub(crate) async fn call_task(
    call: Arc<CallShared>,
    mut states: DialogStateReceiver,
    _slot: Option<SlotGuard>,
) {
    let mut refresh_deadline: Option<tokio::time::Instant> = None;
    let interval = call
        .session_expires
        .map(|s| Duration::from_secs(u64::from(s)));
    let end = loop {
        let sleep_until = refresh_deadline;
        let state = tokio::select! {
            s = states.recv() => s,
            _ = async {
                match sleep_until {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending::<()>().await,
                }
            } => {
                let _ = call.dialog.bye_with_reason("SIP;cause=408;text=\"session expired\"".into()).await;
                break EndReason::SessionExpired;
            }
        };
        let Some(state) = state else {
            break EndReason::Other("dialog state channel closed".into());
        };
        match state {
            DialogState::Confirmed(..) => {
                let first = {
                    let mut st = call.state();
                    match std::mem::replace(&mut *st, CallState::Ended) {
                        CallState::Answered { local, on_ack } => {
                            *st = CallState::Confirmed {
                                local,
                                on_final_notify: None,
                            };
                            if let Some(tx) = on_ack {
                                let _ = tx.send(());
                            }
                            true
                        }
                        other => {
                            *st = other;
                            false
                        }
                    }
                };
                if first {
                    let _ = call.events.send(CallEvent::Confirmed);
                }
                if let Some(i) = interval {
                    refresh_deadline = Some(tokio::time::Instant::now() + i);
                }
            }
            DialogState::Updated(_, req, handle) => {
                if let Some(i) = interval {
                    refresh_deadline = Some(tokio::time::Instant::now() + i);
                }
                let update = on_media_update(&call, &req);
                let _ = handle
                    .respond(StatusCode::from(update.status), update.headers, update.body)
                    .await;
                if let Some(m) = update.changed {
                    let _ = call.events.send(CallEvent::MediaChanged(m));
                }
            }
            DialogState::Info(_, req, handle) => {
                let ct = content_type(&req).unwrap_or_default();
                match admission::parse_info_dtmf(&ct, &req.body) {
                    Some(d) => {
                        let _ = handle.reply(StatusCode::OK).await;
                        let _ = call.events.send(CallEvent::Dtmf(d));
                    }
                    None if req.body.is_empty() => {
                        // Empty INFO is a keepalive probe.
                        let _ = handle.reply(StatusCode::OK).await;
                    }
                    None => {
                        let _ = handle.reply(StatusCode::UnsupportedMediaType).await;
                    }
                }
            }
            DialogState::Notify(_, req, handle) => {
                let _ = handle.reply(StatusCode::OK).await;
                if let Some(status) = sipfrag_final_status(&req) {
                    let waiter = match &mut *call.state() {
                        CallState::Confirmed {
                            on_final_notify, ..
                        } => on_final_notify.take(),
                        _ => None,
                    };
                    if let Some(w) = waiter {
                        let _ = w.send(status);
                    }
                }
            }
            DialogState::Options(_, _, handle) => {
                let _ = handle.reply(StatusCode::OK).await;
            }
            DialogState::Refer(_, _, handle) | DialogState::Message(_, _, handle) => {
                let _ = handle.reply(StatusCode::NotImplemented).await;
            }
            DialogState::Publish(_, _, handle) => {
                let _ = handle.reply(StatusCode::MethodNotAllowed).await;
            }
            DialogState::Terminated(_, reason) => {
                // rsipstack names BYEs by dialog role: on a leg we placed, we are the UAC.
                let we_placed = call.dialog.role() == TransactionRole::Client;
                break match reason {
                    TerminatedReason::UacBye if we_placed => EndReason::LocalHangup,
                    TerminatedReason::UasBye if we_placed => EndReason::RemoteBye,
                    TerminatedReason::UacBye => EndReason::RemoteBye,
                    TerminatedReason::UacCancel => EndReason::Cancelled,
                    TerminatedReason::UasBye | TerminatedReason::UasDecline => {
                        EndReason::LocalHangup
                    }
                    TerminatedReason::Timeout => EndReason::Timeout,
                    other => EndReason::Other(format!("{other:?}")),
                };
            }
            _ => {}
        }
    };
    // Ended before the event: whoever sees `Ended` finds the state ended too. Dropping
    // the old state wakes a late-offer answer or a transfer still waiting.
    *call.state() = CallState::Ended;
    let _ = call.events.send(CallEvent::Ended(end));
    call.server.dialog_layer.remove_dialog(&call.dialog.id());
}

/// Our reply to a re-INVITE/UPDATE, and the new media if it changed.
struct MediaUpdateReply {
    status: u16,
    headers: Option<Vec<Header>>,
    body: Option<Vec<u8>>,
    changed: Option<NegotiatedMedia>,
}

impl MediaUpdateReply {
    fn status(status: u16) -> Self {
        Self {
            status,
            headers: None,
            body: None,
            changed: None,
        }
    }
}

fn on_media_update(call: &CallShared, req: &Request) -> MediaUpdateReply {
    let mut state = call.state();
    let Some(local) = state.local_mut() else {
        // Not answered yet: we cannot renegotiate.
        return MediaUpdateReply::status(491);
    };
    // A refresh's 2xx repeats the session timer, or the caller takes it as switched off.
    let mut timer_headers = Vec::new();
    if let Some(se) = call.session_expires {
        timer_headers.push(make_header(
            "Session-Expires",
            format!("{se};refresher=uac"),
        ));
        timer_headers.push(make_header("Require", "timer".into()));
    }
    let mut headers = vec![Header::ContentType("application/sdp".into())];
    headers.extend(timer_headers.iter().cloned());
    if req.body.is_empty() {
        if req.method == Method::Update {
            // Session refresh only.
            return MediaUpdateReply {
                headers: Some(timer_headers),
                ..MediaUpdateReply::status(200)
            };
        }
        // re-INVITE without offer: offer our current media again; the ACK's answer is ignored.
        local.origin.version += 1;
        let body = sdp::build_offer(local.local_rtp, local.origin);
        return MediaUpdateReply {
            headers: Some(headers),
            body: Some(body.into_bytes()),
            ..MediaUpdateReply::status(200)
        };
    }
    let Ok(offer) = sdp::parse(&req.body) else {
        return MediaUpdateReply::status(488);
    };
    let Ok(mut media) = sdp::negotiate(&offer) else {
        return MediaUpdateReply::status(488);
    };
    // Keep the codec and DTMF PT chosen at call set-up when still offered.
    if offer.codecs.contains(&local.media.codec) {
        media.codec = local.media.codec;
    }
    let changed = media != local.media;
    local.media = media;
    local.origin.version += 1;
    let body = sdp::build_answer(local.local_rtp, &media, local.origin);
    MediaUpdateReply {
        status: 200,
        headers: Some(headers),
        body: Some(body.into_bytes()),
        changed: changed.then_some(media),
    }
}

/// Final status from a REFER NOTIFY's `message/sipfrag` body (`SIP/2.0 200 OK`).
fn sipfrag_final_status(req: &Request) -> Option<u16> {
    let text = std::str::from_utf8(&req.body).ok()?;
    let line = text.lines().next()?;
    let mut parts = line.split_whitespace();
    if !parts.next()?.starts_with("SIP/2.0") {
        return None;
    }
    let code: u16 = parts.next()?.parse().ok()?;
    (code >= 200).then_some(code)
}
