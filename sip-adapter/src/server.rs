//! The tokio shell around rsipstack: listeners, request dispatch, admission, one task per call.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rsipstack::EndpointBuilder;
use rsipstack::dialog::dialog::{Dialog, DialogState, DialogStateReceiver, TerminatedReason};
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::dialog::invite_dialog::InviteDialog;
use rsipstack::sip::headers::make_header;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, Method, Request, StatusCode, Transport};
use rsipstack::transaction::TransactionReceiver;
use rsipstack::transaction::key::TransactionRole;
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::TransportLayer;
use rsipstack::transport::tcp_listener::TcpListenerConnection;
use rsipstack::transport::udp::UdpConnection;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util_token::CancellationToken;
use tracing::{debug, info, warn};

use crate::admission::{self, Admission, Cidr, InfoDtmf, Refusal};
use crate::register::{self, RegistrationStatus};
use crate::sdp::{self, NegotiatedMedia, SdpOrigin};
use crate::session_timer::{self, SessionTimer};
use crate::{Result, SipConfig, SipError};

// rsipstack re-exports tokio-util's token; use it instead of depending on tokio-util.
mod tokio_util_token {
    pub use rsipstack::platform::CancellationToken;
}

/// Largest SIP body we accept (SDP or INFO); bigger requests get 413.
const MAX_BODY: usize = 16 * 1024;
/// How long answer() waits for the ACK of a late-offer 200.
const ACK_WAIT: Duration = Duration::from_secs(32);
/// How long transfer() waits for the final NOTIFY after 202.
const NOTIFY_WAIT: Duration = Duration::from_secs(30);

/// The caller's SDP offer, as plain data.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteOffer {
    pub remote_rtp: SocketAddr,
    pub codecs: Vec<sdp::Codec>,
    pub telephone_event_pt: Option<u8>,
    pub ptime: Option<u32>,
}

/// A new call, delivered to the call loop. Answer, reject or drop it (dropping the
/// handle without answering rejects with 480).
#[derive(Debug)]
pub struct IncomingCall {
    pub call_id: String,
    /// Caller's URI user part (or the whole URI when it has none).
    pub from: String,
    /// Called user part (the number/extension dialled).
    pub to: String,
    /// Signalling source address.
    pub source: SocketAddr,
    /// All request headers (name, value) except Via/Route, in order.
    pub headers: Vec<(String, String)>,
    /// None for a late-offer INVITE (no SDP): `answer` then sends the offer.
    pub offer: Option<RemoteOffer>,
    pub handle: CallHandle,
    /// In-call events (BYE, CANCEL, DTMF via INFO, media change, session expiry).
    pub events: mpsc::UnboundedReceiver<CallEvent>,
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

/// A call ivr placed (the agent leg of a bridge transfer), answered and confirmed.
#[derive(Debug)]
pub struct OutgoingCall {
    pub call_id: String,
    /// What the callee answered: same codec and DTMF PT as offered.
    pub media: NegotiatedMedia,
    /// `hangup` and `send_info_dtmf` apply; `answer`/`reject`/`transfer` do not.
    pub handle: CallHandle,
    /// BYE from the callee, session end (no `Confirmed`: dial returns once confirmed).
    pub events: mpsc::UnboundedReceiver<CallEvent>,
}

/// Why `dial` did not get a call up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialError {
    #[error("bad target URI {0:?}")]
    BadTarget(String),
    #[error("callee answered {0}")]
    Rejected(u16),
    #[error("no answer in time")]
    NoAnswer,
    #[error("callee answered with other media: {0}")]
    MediaMismatch(String),
    #[error("SIP stack: {0}")]
    Stack(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Offered,
    Answered,
    Confirmed,
    Ended,
}

struct LocalMedia {
    local_rtp: SocketAddr,
    media: NegotiatedMedia,
    origin: SdpOrigin,
    /// A late-offer 200 carried our offer; ACK carries the answer.
    awaiting_ack_answer: bool,
}

struct CallShared {
    dialog: InviteDialog,
    offer: Option<sdp::RemoteSdp>,
    phase: watch::Sender<Phase>,
    local: Mutex<Option<LocalMedia>>,
    refer_waiter: Mutex<Option<oneshot::Sender<u16>>>,
    /// RFC 4028 interval (s) the caller refreshes; None = no session timer.
    session_expires: Option<u32>,
    events: mpsc::UnboundedSender<CallEvent>,
    server: Arc<ServerShared>,
}

/// Commands for one call. Cheap to clone.
#[derive(Clone)]
pub struct CallHandle {
    call: Arc<CallShared>,
}

impl std::fmt::Debug for CallHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallHandle")
            .field("dialog", &self.call.dialog.id().to_string())
            .finish()
    }
}

struct ServerShared {
    cfg: SipConfig,
    admission: Mutex<Admission>,
    active: AtomicUsize,
    draining: AtomicBool,
    overloaded: AtomicBool,
    dialog_layer: Arc<DialogLayer>,
    incoming: mpsc::Sender<IncomingCall>,
    contact_host: SocketAddr,
    /// Calls by dialog id, so in-dialog requests reach their call task's bookkeeping.
    calls: Mutex<HashMap<String, Arc<CallShared>>>,
    registration: watch::Receiver<RegistrationStatus>,
}

/// The running SIP server. Dropping it does not stop it: call `shutdown()`.
pub struct SipServer {
    shared: Arc<ServerShared>,
    local_addr: SocketAddr,
    cancel: CancellationToken,
}

impl SipServer {
    /// Bind UDP and TCP on `cfg.listen` (same port; port 0 picks a free one) and serve.
    pub async fn start(cfg: &SipConfig) -> Result<(SipServer, mpsc::Receiver<IncomingCall>)> {
        let listen: SocketAddr = cfg
            .listen
            .parse()
            .map_err(|e| SipError::Config(format!("listen {:?}: {e}", cfg.listen)))?;
        let acl = cfg
            .allow
            .iter()
            .map(|s| s.parse::<Cidr>())
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| SipError::Config(e.to_string()))?;
        if listen.ip().is_unspecified() {
            return Err(SipError::Config(
                "listen must be a concrete address (it goes into Contact and SDP)".into(),
            ));
        }

        let cancel = CancellationToken::new();
        let transport_layer = TransportLayer::new(cancel.clone());
        let (udp, local_addr) = bind_udp_tcp(listen, &cancel).await?;
        transport_layer.add_transport(udp.into());
        let tcp = TcpListenerConnection::new(local_addr, None)
            .await
            .map_err(SipError::from)?;
        transport_layer.add_transport(tcp.into());
        if !acl.is_empty() {
            let acl_for_filter = acl.clone();
            transport_layer.set_whitelist(move |ip: IpAddr| {
                let ok = admission::allowed(&acl_for_filter, ip);
                async move { ok }
            });
        }

        let endpoint = EndpointBuilder::new()
            .with_cancel_token(cancel.clone())
            .with_transport_layer(transport_layer)
            .with_user_agent(&cfg.user_agent)
            .with_allows(vec![
                Method::Invite,
                Method::Ack,
                Method::Cancel,
                Method::Bye,
                Method::Options,
                Method::Info,
                Method::Update,
                Method::Notify,
            ])
            .build();
        let incoming_tx = endpoint.incoming_transactions()?;
        let dialog_layer = Arc::new(DialogLayer::new(endpoint.inner.clone()));
        let (calls_tx, calls_rx) = mpsc::channel(cfg.incoming_queue.max(1));
        let (reg_tx, reg_rx) = watch::channel(RegistrationStatus::Disabled);

        let shared = Arc::new(ServerShared {
            cfg: cfg.clone(),
            admission: Mutex::new(Admission::new(
                cfg.max_calls,
                cfg.max_call_rate,
                cfg.call_rate_burst,
            )),
            active: AtomicUsize::new(0),
            draining: AtomicBool::new(false),
            overloaded: AtomicBool::new(false),
            dialog_layer,
            incoming: calls_tx,
            contact_host: local_addr,
            calls: Mutex::new(HashMap::new()),
            registration: reg_rx,
        });

        let ep_inner = endpoint.inner.clone();
        tokio::spawn(async move {
            if let Err(e) = ep_inner.serve().await {
                warn!(error = %e, "SIP endpoint stopped");
            }
        });
        tokio::spawn(dispatch(shared.clone(), incoming_tx));
        if let Some(reg) = &cfg.register {
            tokio::spawn(register::run(
                endpoint.inner.clone(),
                reg.clone(),
                local_addr,
                reg_tx,
                cancel.clone(),
            ));
        }
        // The endpoint must outlive this function; its inner Arc is held by the tasks.
        std::mem::forget(endpoint);
        info!(%local_addr, "SIP listening on UDP and TCP");
        Ok((
            SipServer {
                shared,
                local_addr,
                cancel,
            },
            calls_rx,
        ))
    }

    /// The bound signalling address (UDP and TCP).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Refuse new calls with 503 from now on (graceful shutdown); running calls go on.
    pub fn drain(&self) {
        self.shared.draining.store(true, Ordering::SeqCst);
    }

    /// Set by the call loop when it cannot take more calls (e.g. ASR queue wait too long).
    pub fn set_overloaded(&self, overloaded: bool) {
        self.shared.overloaded.store(overloaded, Ordering::SeqCst);
    }

    /// Calls from INVITE until their end.
    pub fn active_calls(&self) -> usize {
        self.shared.active.load(Ordering::SeqCst)
    }

    /// Trunk registration state, for metrics and `ivr doctor`.
    pub fn registration_status(&self) -> RegistrationStatus {
        self.shared.registration.borrow().clone()
    }

    /// Bridge-mode transfer, agent leg: INVITE `target_uri` (e.g. `sip:agent@10.0.0.5:5060`)
    /// offering exactly `codec` and `dtmf_pt` (pass the caller leg's, so RTP can be
    /// relayed unchanged with [`crate::RtpRelay`]) with our RTP at `local_rtp`, plus
    /// `headers` (e.g. `X-IVR-Call-Id`). Waits up to `ring_timeout` for a 2xx (then
    /// CANCELs). Returns once the agent's 200 is ACKed.
    pub async fn dial(
        &self,
        target_uri: &str,
        local_rtp: SocketAddr,
        codec: sdp::Codec,
        dtmf_pt: Option<u8>,
        headers: Vec<(String, String)>,
        ring_timeout: Duration,
    ) -> std::result::Result<OutgoingCall, DialError> {
        let shared = &self.shared;
        // rsipstack's URI parser is lenient; insist on a SIP URI with a host.
        let lower = target_uri.trim().to_ascii_lowercase();
        let rest = lower
            .strip_prefix("sip:")
            .or_else(|| lower.strip_prefix("sips:"))
            .unwrap_or_default();
        let host = rest.rsplit('@').next().unwrap_or_default();
        if host.is_empty() || host.contains(char::is_whitespace) {
            return Err(DialError::BadTarget(target_uri.to_string()));
        }
        let callee = rsipstack::sip::Uri::try_from(target_uri.trim())
            .map_err(|_| DialError::BadTarget(target_uri.to_string()))?;
        let me = format!("sip:{}@{}", shared.cfg.user_agent, shared.contact_host);
        let me = rsipstack::sip::Uri::try_from(me.as_str())
            .map_err(|e| DialError::Stack(e.to_string()))?;
        let origin = SdpOrigin {
            session_id: u64::from(rand_u32()),
            version: 1,
        };
        let offered = NegotiatedMedia {
            codec,
            remote_rtp: local_rtp,
            dtmf_pt,
            ptime: 20,
            direction: sdp::Direction::SendRecv,
        };
        let offer = sdp::build_answer(local_rtp, &offered, origin);
        let opt = rsipstack::dialog::invitation::InviteOption {
            caller_display_name: None,
            caller_params: vec![],
            caller: me.clone(),
            callee,
            destination: None,
            content_type: Some("application/sdp".into()),
            offer: Some(offer.into_bytes()),
            contact: me,
            credential: None,
            headers: Some(
                headers
                    .iter()
                    .map(|(k, v)| make_header(k, v.clone()))
                    .collect(),
            ),
            support_prack: false,
            call_id: None,
            session_id: None,
            route_set: vec![],
        };
        let (state_tx, state_rx) = shared.dialog_layer.new_dialog_state_channel();
        let (dialog, resp) =
            tokio::time::timeout(ring_timeout, shared.dialog_layer.do_invite(opt, state_tx))
                .await
                .map_err(|_| DialError::NoAnswer)?
                .map_err(|e| DialError::Stack(e.to_string()))?;
        let resp = resp.ok_or(DialError::NoAnswer)?;
        let code = u16::from(resp.status_code.clone());
        if !(200..300).contains(&code) {
            return Err(DialError::Rejected(code));
        }
        let answered = sdp::parse(&resp.body)
            .and_then(|a| sdp::negotiate(&a))
            .map_err(|e| DialError::MediaMismatch(e.to_string()));
        let media = match answered {
            Ok(m) if m.codec == codec => NegotiatedMedia {
                // We offered only the caller's DTMF PT: the answer can but echo or drop it.
                dtmf_pt: m.dtmf_pt.and(dtmf_pt),
                ..m
            },
            other => {
                // Answered, but unusable for a packet relay: end the agent leg.
                let _ = dialog.bye().await;
                return Err(match other {
                    Ok(m) => DialError::MediaMismatch(format!("{:?}", m.codec)),
                    Err(e) => e,
                });
            }
        };
        let (ev_tx, ev_rx) = mpsc::unbounded_channel();
        let (phase_tx, _) = watch::channel(Phase::Confirmed);
        let call = Arc::new(CallShared {
            dialog: dialog.clone(),
            offer: None,
            phase: phase_tx,
            local: Mutex::new(Some(LocalMedia {
                local_rtp,
                media,
                origin,
                awaiting_ack_answer: false,
            })),
            refer_waiter: Mutex::new(None),
            session_expires: None,
            events: ev_tx,
            server: shared.clone(),
        });
        if let Ok(mut calls) = shared.calls.lock() {
            calls.insert(dialog.id().to_string(), call.clone());
        }
        tokio::spawn(call_task(call.clone(), state_rx, None));
        Ok(OutgoingCall {
            call_id: dialog.id().call_id.clone(),
            media,
            handle: CallHandle { call },
            events: ev_rx,
        })
    }

    /// Follow the trunk registration state: every REGISTER outcome (including each
    /// successful refresh, which leaves the value unchanged) marks the receiver changed.
    pub fn registration_watch(&self) -> watch::Receiver<RegistrationStatus> {
        self.shared.registration.clone()
    }

    /// Stop listeners and all tasks.
    pub fn shutdown(&self) {
        self.cancel.cancel();
    }
}

async fn bind_udp_tcp(
    listen: SocketAddr,
    cancel: &CancellationToken,
) -> Result<(UdpConnection, SocketAddr)> {
    // With port 0, the UDP port may be taken for TCP: retry a few times.
    let mut last_err = None;
    for _ in 0..20 {
        let udp = UdpConnection::create_connection(listen, None, Some(cancel.child_token()))
            .await
            .map_err(|e| SipError::Bind {
                addr: listen.to_string(),
                source: std::io::Error::other(e.to_string()),
            })?;
        let port = udp.get_addr().addr.port.map(u16::from).unwrap_or(0);
        let bound = SocketAddr::new(listen.ip(), port);
        // rsipstack binds TCP later (and ignores failure): probe now so start() reports it.
        match std::net::TcpListener::bind(bound) {
            Ok(probe) => {
                drop(probe);
                return Ok((udp, bound));
            }
            Err(e) => {
                last_err = Some(e);
                if listen.port() != 0 {
                    break;
                }
            }
        }
    }
    Err(SipError::Bind {
        addr: listen.to_string(),
        source: last_err.unwrap_or_else(|| std::io::Error::other("no free port")),
    })
}

/// Route each new server transaction.
async fn dispatch(shared: Arc<ServerShared>, mut incoming: TransactionReceiver) {
    while let Some(tx) = incoming.recv().await {
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut tx = tx;
            if let Err(e) = handle_request(&shared, &mut tx).await {
                debug!(error = %e, method = %tx.original.method, "request handling failed");
            }
        });
    }
}

fn has_to_tag(req: &Request) -> bool {
    req.to_header()
        .ok()
        .and_then(|t| t.tag().ok().flatten())
        .is_some()
}

async fn reply(tx: &mut Transaction, code: u16, extra: Vec<Header>) -> Result<()> {
    let mut resp = tx
        .endpoint_inner
        .make_response(&tx.original, StatusCode::from(code), None);
    if code >= 200 && !has_to_tag(&tx.original) {
        let tag = format!("ivr{:08x}", rand_u32());
        if let Ok(to) = resp.to_header_mut() {
            let _ = to.mut_tag(tag.as_str().into());
        }
    }
    for h in extra {
        resp.headers.push(h);
    }
    tx.respond(resp).await.map_err(SipError::from)
}

fn rand_u32() -> u32 {
    // Tags need uniqueness, not cryptographic strength.
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish() as u32
}

async fn handle_request(shared: &Arc<ServerShared>, tx: &mut Transaction) -> Result<()> {
    let req = &tx.original;
    // Requests rsipstack parsed but that miss what a transaction needs.
    if req.call_id_header().is_err()
        || req.from_header().is_err()
        || req.to_header().is_err()
        || req.cseq_header().is_err()
    {
        return reply(tx, 400, vec![]).await;
    }
    if req.body.len() > MAX_BODY {
        return reply(tx, 413, vec![]).await;
    }
    let in_dialog = has_to_tag(req);
    if in_dialog {
        if let Some(mut dialog) = shared.dialog_layer.match_dialog(tx) {
            return dialog.handle(tx).await.map_err(SipError::from);
        }
        return match req.method {
            Method::Ack => Ok(()),
            _ => reply(tx, 481, vec![]).await,
        };
    }
    match req.method {
        Method::Invite => handle_invite(shared, tx).await,
        Method::Options => {
            let allow = make_header(
                "Allow",
                "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, NOTIFY".into(),
            );
            let accept = make_header("Accept", "application/sdp".into());
            reply(tx, 200, vec![allow, accept]).await
        }
        Method::Ack => Ok(()),
        Method::Bye | Method::Info | Method::Update | Method::Notify | Method::Refer => {
            reply(tx, 481, vec![]).await
        }
        _ => {
            let allow = make_header(
                "Allow",
                "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, NOTIFY".into(),
            );
            reply(tx, 405, vec![allow]).await
        }
    }
}

fn user_of(uri: &rsipstack::sip::Uri) -> String {
    match &uri.auth {
        Some(a) => a.user.clone(),
        None => uri.to_string(),
    }
}

fn content_type(req: &Request) -> Option<String> {
    req.headers.iter().find_map(|h| match h {
        Header::ContentType(ct) => Some(ct.value().to_string()),
        _ => None,
    })
}

fn session_timer(req: &Request, cfg: &SipConfig) -> SessionTimer {
    let supports = req.header_contains_token("Supported", "timer")
        || req.header_contains_token("Require", "timer");
    session_timer::negotiate(
        supports,
        req.header_value("Session-Expires").as_deref(),
        req.header_value("Min-SE").as_deref(),
        cfg.session_expires_s,
    )
}

struct SlotGuard(Arc<ServerShared>);
impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn handle_invite(shared: &Arc<ServerShared>, tx: &mut Transaction) -> Result<()> {
    let req = tx.original.clone();
    let refusal = {
        let mut adm = shared
            .admission
            .lock()
            .map_err(|_| SipError::State("admission lock"))?;
        adm.admit(
            Instant::now(),
            shared.active.load(Ordering::SeqCst),
            shared.draining.load(Ordering::SeqCst),
            shared.overloaded.load(Ordering::SeqCst),
        )
    };
    if let Err(r) = refusal {
        return refuse_503(shared, tx, r).await;
    }
    if shared.incoming.capacity() == 0 {
        return refuse_503(shared, tx, Refusal::Overloaded).await;
    }

    let offer = if req.body.is_empty() {
        None
    } else {
        let ct = content_type(&req).unwrap_or_default().to_ascii_lowercase();
        if !ct.starts_with("application/sdp") {
            let accept = make_header("Accept", "application/sdp".into());
            return reply(tx, 415, vec![accept]).await;
        }
        match sdp::parse(&req.body) {
            Ok(o) => Some(o),
            Err(e) => {
                debug!(error = %e, "bad SDP offer");
                let warn = make_header("Warning", format!("399 ivr \"{e}\""));
                return reply(tx, 400, vec![warn]).await;
            }
        }
    };
    if let Some(o) = &offer
        && let Err(e) = sdp::negotiate(o)
    {
        let warn = make_header("Warning", format!("304 ivr \"{e}\""));
        return reply(tx, 488, vec![warn]).await;
    }

    let session_expires = match session_timer(&req, &shared.cfg) {
        SessionTimer::Off => None,
        SessionTimer::CallerRefreshes(s) => Some(s),
        SessionTimer::TooSmall(min) => {
            let min_se = make_header("Min-SE", min.to_string());
            return reply(tx, 422, vec![min_se]).await;
        }
    };

    shared.active.fetch_add(1, Ordering::SeqCst);
    let slot = SlotGuard(shared.clone());

    let transport = tx
        .connection
        .as_ref()
        .map(|c| c.transport())
        .unwrap_or(Transport::Udp);
    let contact = format!(
        "sip:{}@{}{}",
        shared.cfg.user_agent,
        shared.contact_host,
        if transport == Transport::Tcp {
            ";transport=tcp"
        } else {
            ""
        }
    );
    let contact = rsipstack::sip::Uri::try_from(contact.as_str())
        .map_err(|e| SipError::Stack(e.to_string()))?;
    let (state_tx, state_rx) = shared.dialog_layer.new_dialog_state_channel();
    let dialog =
        shared
            .dialog_layer
            .get_or_create_server_invite(tx, state_tx, None, Some(contact))?;

    let (ev_tx, ev_rx) = mpsc::unbounded_channel();
    let (phase_tx, _) = watch::channel(Phase::Offered);
    let call = Arc::new(CallShared {
        dialog: dialog.clone(),
        offer: offer.clone(),
        phase: phase_tx,
        local: Mutex::new(None),
        refer_waiter: Mutex::new(None),
        session_expires,
        events: ev_tx,
        server: shared.clone(),
    });
    let id = dialog.id().to_string();
    if let Ok(mut calls) = shared.calls.lock() {
        calls.insert(id.clone(), call.clone());
    }

    let source = tx
        .connection
        .as_ref()
        .and_then(|c| c.get_remote_addr().and_then(|a| a.get_socketaddr().ok()))
        .or_else(|| rsipstack::transport::SipConnection::get_destination(&req.clone().into()).ok())
        .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
    let headers = req
        .headers
        .iter()
        .filter(|h| {
            !matches!(
                h,
                Header::Via(_) | Header::Route(_) | Header::RecordRoute(_)
            )
        })
        .map(|h| (h.name().to_string(), h.value().to_string()))
        .collect();
    let incoming = IncomingCall {
        call_id: req
            .call_id_header()
            .map(|c| c.value().to_string())
            .unwrap_or_default(),
        from: req
            .from_header()
            .ok()
            .and_then(|f| f.uri().ok())
            .map(|u| user_of(&u))
            .unwrap_or_default(),
        to: req
            .to_header()
            .ok()
            .and_then(|t| t.uri().ok())
            .map(|u| user_of(&u))
            .unwrap_or_default(),
        source,
        headers,
        offer: offer.as_ref().map(|o| RemoteOffer {
            remote_rtp: o.rtp,
            codecs: o.codecs.clone(),
            telephone_event_pt: o.telephone_event_pt,
            ptime: o.ptime,
        }),
        handle: CallHandle { call: call.clone() },
        events: ev_rx,
    };

    // The call task follows the dialog's states until it ends.
    tokio::spawn(call_task(call.clone(), state_rx, Some(slot)));

    let mut dialog_for_tx = dialog.clone();
    if let Err(e) = shared.incoming.try_send(incoming) {
        // Call loop is not keeping up (checked before; lost a race): refuse, don't queue.
        warn!(error = %e, "incoming call queue full");
        let _ = dialog.reject(Some(StatusCode::ServiceUnavailable), Some("busy".into()));
    } else {
        let _ = dialog.ringing(None, None);
    }
    // Runs the INVITE transaction (100, CANCEL, ACK) until it completes.
    dialog_for_tx.handle(tx).await.map_err(SipError::from)
}

async fn refuse_503(shared: &Arc<ServerShared>, tx: &mut Transaction, r: Refusal) -> Result<()> {
    info!(reason = r.reason(), "refusing call with 503");
    let retry = make_header("Retry-After", shared.cfg.retry_after_s.to_string());
    let reason = make_header("Reason", format!("SIP;cause=503;text=\"{}\"", r.reason()));
    reply(tx, 503, vec![retry, reason]).await
}

/// `_slot`: the admission slot of an incoming call, released when the task ends
/// (None for legs we placed ourselves, which do not count against `max_calls`).
async fn call_task(
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
                let first = *call.phase.borrow() != Phase::Confirmed;
                if first {
                    call.phase.send_replace(Phase::Confirmed);
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
                let (code, headers, body, changed) = on_media_update(&call, &req);
                let _ = handle.respond(StatusCode::from(code), headers, body).await;
                if let Some(m) = changed {
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
                    let waiter = call.refer_waiter.lock().ok().and_then(|mut w| w.take());
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
    call.phase.send_replace(Phase::Ended);
    let _ = call.events.send(CallEvent::Ended(end));
    let id = call.dialog.id();
    call.server.dialog_layer.remove_dialog(&id);
    if let Ok(mut calls) = call.server.calls.lock() {
        calls.remove(&id.to_string());
    }
}

/// Answer a re-INVITE/UPDATE. Returns (status, headers, body, new media if it changed).
#[allow(clippy::type_complexity)]
fn on_media_update(
    call: &CallShared,
    req: &Request,
) -> (
    u16,
    Option<Vec<Header>>,
    Option<Vec<u8>>,
    Option<NegotiatedMedia>,
) {
    let Ok(mut local) = call.local.lock() else {
        return (500, None, None, None);
    };
    let Some(local) = local.as_mut() else {
        // Not answered yet: we cannot renegotiate.
        return (491, None, None, None);
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
            return (200, Some(timer_headers), None, None);
        }
        // re-INVITE without offer: offer our current media again; the ACK's answer is ignored.
        local.origin.version += 1;
        let body = sdp::build_offer(local.local_rtp, local.origin);
        return (200, Some(headers), Some(body.into_bytes()), None);
    }
    let offer = match sdp::parse(&req.body) {
        Ok(o) => o,
        Err(_) => return (488, None, None, None),
    };
    let mut media = match sdp::negotiate(&offer) {
        Ok(m) => m,
        Err(_) => return (488, None, None, None),
    };
    // Keep the codec and DTMF PT chosen at call set-up when still offered.
    if offer.codecs.contains(&local.media.codec) {
        media.codec = local.media.codec;
    }
    let changed = media != local.media;
    local.media = media;
    local.origin.version += 1;
    let body = sdp::build_answer(local.local_rtp, &media, local.origin);
    (
        200,
        Some(headers),
        Some(body.into_bytes()),
        changed.then_some(media),
    )
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

impl CallHandle {
    /// The SIP dialog id (Call-ID + tags), for logs.
    pub fn dialog_id(&self) -> String {
        self.call.dialog.id().to_string()
    }

    /// Answer with 200 OK, our RTP at `local_rtp`. Early offer: returns at once with the
    /// negotiated media (RTP may start). Late offer: sends our offer in the 200 and waits
    /// for the ACK's answer.
    pub async fn answer(&self, local_rtp: SocketAddr) -> Result<NegotiatedMedia> {
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
        {
            let phase = *self.call.phase.borrow();
            if phase != Phase::Offered {
                return Err(SipError::State("answer"));
            }
        }
        let mut phase_rx = self.call.phase.subscribe();
        let (body, early_media) = match &self.call.offer {
            Some(offer) => {
                let media = sdp::negotiate(offer)?;
                (sdp::build_answer(local_rtp, &media, origin), Some(media))
            }
            None => (sdp::build_offer(local_rtp, origin), None),
        };
        if let Ok(mut l) = self.call.local.lock() {
            *l = Some(LocalMedia {
                local_rtp,
                media: early_media.unwrap_or(NegotiatedMedia {
                    codec: sdp::Codec::Pcmu,
                    remote_rtp: SocketAddr::from(([0, 0, 0, 0], 0)),
                    dtmf_pt: None,
                    ptime: 20,
                    direction: sdp::Direction::SendRecv,
                }),
                origin,
                awaiting_ack_answer: early_media.is_none(),
            });
        }
        self.call.phase.send_replace(Phase::Answered);
        self.call
            .dialog
            .accept(Some(headers), Some(body.into_bytes()))?;
        if let Some(m) = early_media {
            return Ok(m);
        }
        // Late offer: the answer is in the ACK.
        let wait = async {
            loop {
                let p = *phase_rx.borrow_and_update();
                match p {
                    Phase::Confirmed => return Ok(()),
                    Phase::Ended => return Err(SipError::Ended("before ACK".into())),
                    _ => {}
                }
                if phase_rx.changed().await.is_err() {
                    return Err(SipError::Ended("before ACK".into()));
                }
            }
        };
        tokio::time::timeout(ACK_WAIT, wait)
            .await
            .map_err(|_| SipError::Timeout("ACK"))??;
        let ack = match self
            .call
            .server
            .dialog_layer
            .get_dialog(&self.call.dialog.id())
        {
            Some(Dialog::Invite(d)) => d.last_remote_ack(),
            _ => None,
        }
        .or_else(|| self.call.dialog.last_remote_ack())
        .ok_or(SipError::State("ACK without answer"))?;
        let answer = sdp::parse(&ack.body)?;
        let media = sdp::apply_answer(&answer)?;
        if let Ok(mut l) = self.call.local.lock()
            && let Some(l) = l.as_mut()
        {
            l.media = media;
            l.awaiting_ack_answer = false;
        }
        Ok(media)
    }

    /// Refuse the call before answering (e.g. 486, 480, 503). No-op once answered.
    pub fn reject(&self, code: u16, reason: Option<String>) -> Result<()> {
        self.call
            .dialog
            .reject(Some(StatusCode::from(code)), reason)
            .map_err(SipError::from)
    }

    /// End the call: BYE when answered, 480 before.
    pub async fn hangup(&self) -> Result<()> {
        let phase = *self.call.phase.borrow();
        match phase {
            Phase::Offered => self.reject(480, Some("hangup before answer".into())),
            Phase::Ended => Ok(()),
            _ => self.call.dialog.bye().await.map_err(SipError::from),
        }
    }

    /// Blind transfer (RFC 3515): REFER to `target_uri` with extra headers (e.g.
    /// `X-IVR-Call-Id`), then wait for the final NOTIFY. On success, hang up.
    pub async fn transfer(
        &self,
        target_uri: &str,
        headers: Vec<(String, String)>,
    ) -> Result<TransferOutcome> {
        if *self.call.phase.borrow() != Phase::Confirmed {
            return Err(SipError::State("transfer"));
        }
        let (w_tx, w_rx) = oneshot::channel();
        if let Ok(mut w) = self.call.refer_waiter.lock() {
            *w = Some(w_tx);
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
                    self.call.server.cfg.user_agent, self.call.server.contact_host
                ),
            ),
        ];
        for (k, v) in headers {
            hdrs.push(make_header(&k, v));
        }
        let resp = self
            .call
            .dialog
            .request(Method::Refer, Some(hdrs), None)
            .await?;
        let code = resp.map(|r| u16::from(r.status_code)).unwrap_or(408);
        if !(200..300).contains(&code) {
            return Ok(TransferOutcome::Rejected(code));
        }
        match tokio::time::timeout(NOTIFY_WAIT, w_rx).await {
            Ok(Ok(status)) if (200..300).contains(&status) => {
                Ok(TransferOutcome::Succeeded(status))
            }
            Ok(Ok(status)) => Ok(TransferOutcome::Failed(status)),
            _ => Ok(TransferOutcome::NoFinalNotify),
        }
    }

    /// Send a DTMF digit as SIP INFO (`application/dtmf-relay`), for peers without RFC 4733.
    pub async fn send_info_dtmf(&self, digit: char, duration_ms: u32) -> Result<()> {
        let body = format!("Signal={digit}\r\nDuration={duration_ms}\r\n");
        let headers = vec![Header::ContentType("application/dtmf-relay".into())];
        self.call
            .dialog
            .info(Some(headers), Some(body.into_bytes()))
            .await?;
        Ok(())
    }
}
