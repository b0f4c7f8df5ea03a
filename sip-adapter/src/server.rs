//! The tokio shell around rsipstack: listeners, request dispatch, admission, one task per call.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rsipstack::EndpointBuilder;
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::sip::headers::make_header;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, Method, Request, StatusCode, Transport};
use rsipstack::transaction::TransactionReceiver;
use rsipstack::transaction::transaction::Transaction;
use rsipstack::transport::TransportLayer;
use rsipstack::transport::tcp_listener::TcpListenerConnection;
use rsipstack::transport::udp::UdpConnection;
use tokio::sync::{mpsc, watch};
use tokio_util_token::CancellationToken;
use tracing::{debug, info, warn};

use crate::admission::{self, Admission, Cidr, Refusal};
use crate::call::{
    CallShared, CallState, IncomingCall, IncomingCallInfo, LocalMedia, OutgoingCall, PlacedCall,
    RemoteOffer, SipHeader, call_task,
};
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

pub(crate) struct ServerShared {
    pub(crate) cfg: SipConfig,
    admission: Mutex<Admission>,
    active: AtomicUsize,
    draining: AtomicBool,
    overloaded: AtomicBool,
    pub(crate) dialog_layer: Arc<DialogLayer>,
    incoming: mpsc::Sender<IncomingCall>,
    pub(crate) contact_host: SocketAddr,
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
        headers: Vec<SipHeader>,
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
                    .map(|h| make_header(&h.name, h.value.clone()))
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
        let call = Arc::new(CallShared {
            dialog: dialog.clone(),
            offer: None,
            state: Mutex::new(CallState::Confirmed {
                local: LocalMedia {
                    local_rtp,
                    media,
                    origin,
                },
                on_final_notify: None,
            }),
            session_expires: None,
            events: ev_tx,
            server: shared.clone(),
            rt: tokio::runtime::Handle::current(),
        });
        tokio::spawn(call_task(call.clone(), state_rx, None));
        Ok(OutgoingCall {
            call_id: dialog.id().call_id.clone(),
            media,
            call: PlacedCall::new(call),
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
    // rsipstack copies the request's version; we speak SIP/2.0 whatever was asked (505).
    resp.version = rsipstack::sip::Version::V2;
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

pub(crate) fn rand_u32() -> u32 {
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
    if let Some(refusal) = crate::conformance::check(req) {
        debug!(method = %req.method, %refusal, "request refused");
        let headers = refusal
            .headers()
            .into_iter()
            .map(|(name, value)| make_header(name, value))
            .collect();
        return reply(tx, refusal.status(), headers).await;
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

pub(crate) fn content_type(req: &Request) -> Option<String> {
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

/// One admission slot (`max_calls`), held by an incoming call's task.
pub(crate) struct SlotGuard(Arc<ServerShared>);
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
    let call = Arc::new(CallShared {
        dialog: dialog.clone(),
        offer: offer.clone(),
        state: Mutex::new(CallState::Offered),
        session_expires,
        events: ev_tx,
        server: shared.clone(),
        rt: tokio::runtime::Handle::current(),
    });

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
        .map(|h| SipHeader::new(h.name().to_string(), h.value().to_string()))
        .collect();
    let info = IncomingCallInfo {
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
    };
    let incoming = IncomingCall::new(call.clone(), ev_rx, info);

    // The call task follows the dialog's states until it ends.
    tokio::spawn(call_task(call.clone(), state_rx, Some(slot)));

    let mut dialog_for_tx = dialog.clone();
    match shared.incoming.try_send(incoming) {
        Err(mpsc::error::TrySendError::Full(call) | mpsc::error::TrySendError::Closed(call)) => {
            // Call loop is not keeping up (checked before; lost a race): refuse, don't queue.
            warn!("incoming call queue full");
            let _ = call.reject(503, Some("busy".into()));
        }
        Ok(()) => {
            let _ = dialog.ringing(None, None);
        }
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
