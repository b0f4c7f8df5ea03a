//! Real-peer tests: SIPp scenarios from fixtures/sipp against the in-process server.

mod common;

use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_call_with_pcap_audio_and_caller_bye() {
    let bot = start_bot(Mode::Answer, test_config()).await;
    let r = sipp("uac_basic_pcap.xml", bot.server.local_addr(), &[], 15).await;
    assert_sipp_ok(&r, "basic call");
    assert!(
        bot.wait_for("ended RemoteBye", 1, Duration::from_secs(3))
            .await,
        "{:?}",
        bot.lines()
    );
    let lines = bot.lines();
    assert!(
        lines[0].contains("from=caller to=ivr offer=true xtest=true"),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l == "answered codec=Pcma pt=8 dtmf=Some(101)"),
        "{lines:?}"
    );
    // g711a.pcap is PCMA speech at 50 packets/s; SIPp plays it for the 2 s pause.
    let (n, pt) = bot.rtp.lock().unwrap()[0];
    assert!(n >= 50, "only {n} RTP packets from SIPp");
    assert_eq!(pt, Some(8));
    assert_eq!(bot.server.active_calls(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ivr_hangs_up_with_bye() {
    let bot = start_bot(Mode::AnswerThenHangup(300), test_config()).await;
    let r = sipp("uac_remote_bye.xml", bot.server.local_addr(), &[], 10).await;
    assert_sipp_ok(&r, "ivr BYE");
    assert!(
        bot.wait_for("ended LocalHangup", 1, Duration::from_secs(3))
            .await,
        "{:?}",
        bot.lines()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_before_answer_gets_487() {
    let bot = start_bot(Mode::NeverAnswer, test_config()).await;
    let r = sipp("uac_cancel.xml", bot.server.local_addr(), &[], 10).await;
    assert_sipp_ok(&r, "CANCEL");
    assert!(
        bot.wait_for("Ended(Cancelled)", 1, Duration::from_secs(3))
            .await,
        "{:?}",
        bot.lines()
    );
    assert!(bot.wait_for_idle(Duration::from_secs(2)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reinvite_hold_then_unhold() {
    let bot = start_bot(Mode::Answer, test_config()).await;
    let r = sipp("uac_hold_unhold.xml", bot.server.local_addr(), &[], 10).await;
    assert_sipp_ok(&r, "hold/unhold");
    assert!(
        bot.wait_for("ended RemoteBye", 1, Duration::from_secs(3))
            .await
    );
    let media: Vec<String> = bot
        .lines()
        .into_iter()
        .filter(|l| l.starts_with("MediaChanged"))
        .collect();
    assert_eq!(media.len(), 2, "{media:?}");
    assert!(media[0].contains("direction: RecvOnly"), "{media:?}");
    assert!(media[1].contains("direction: SendRecv"), "{media:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_dtmf_relay_reaches_call_loop() {
    let bot = start_bot(Mode::Answer, test_config()).await;
    let r = sipp("uac_info_dtmf.xml", bot.server.local_addr(), &[], 10).await;
    assert_sipp_ok(&r, "INFO");
    assert!(
        bot.wait_for("ended RemoteBye", 1, Duration::from_secs(3))
            .await
    );
    assert!(
        bot.lines()
            .iter()
            .any(|l| l.contains("digit: '7', duration_ms: Some(160)")),
        "{:?}",
        bot.lines()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_ping_gets_200() {
    let bot = start_bot(Mode::Answer, test_config()).await;
    let r = sipp("uac_options.xml", bot.server.local_addr(), &[], 5).await;
    assert_sipp_ok(&r, "OPTIONS");
    assert_eq!(bot.count("call"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_offer_invite_without_sdp() {
    let bot = start_bot(Mode::Answer, test_config()).await;
    let r = sipp("uac_late_offer.xml", bot.server.local_addr(), &[], 10).await;
    assert_sipp_ok(&r, "late offer");
    assert!(
        bot.wait_for("ended RemoteBye", 1, Duration::from_secs(3))
            .await,
        "{:?}",
        bot.lines()
    );
    let lines = bot.lines();
    assert!(lines[0].contains("offer=false"), "{lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l == "answered codec=Pcma pt=8 dtmf=Some(101)"),
        "{lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_codec_gets_488() {
    let bot = start_bot(Mode::Answer, test_config()).await;
    let r = sipp("uac_g729_488.xml", bot.server.local_addr(), &[], 5).await;
    assert_sipp_ok(&r, "488");
    assert_eq!(
        bot.count("call"),
        0,
        "a 488 call must not reach the call loop"
    );
    assert_eq!(bot.server.active_calls(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blind_transfer_refer_accepted() {
    let bot = start_bot(Mode::AnswerThenTransfer, test_config()).await;
    let r = sipp("uac_refer_accept.xml", bot.server.local_addr(), &[], 10).await;
    assert_sipp_ok(&r, "REFER");
    assert!(
        bot.wait_for("transfer Ok(Succeeded(200))", 1, Duration::from_secs(3))
            .await,
        "{:?}",
        bot.lines()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_calls_at_10_per_second_over_udp() {
    let bot = start_bot(Mode::Answer, test_config()).await;
    let r = sipp(
        "uac_bye.xml",
        bot.server.local_addr(),
        &["-m", "100", "-r", "10", "-l", "30"],
        30,
    )
    .await;
    assert_sipp_ok(&r, "100 calls");
    assert!(
        bot.wait_for("ended RemoteBye", 100, Duration::from_secs(5))
            .await
    );
    assert_eq!(bot.count("answer-error"), 0);
    assert!(bot.wait_for_idle(Duration::from_secs(2)).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_call() {
    let bot = start_bot(Mode::Answer, test_config()).await;
    let r = sipp("uac_bye.xml", bot.server.local_addr(), &["-t", "t1"], 10).await;
    assert_sipp_ok(&r, "TCP call");
    assert!(
        bot.wait_for("ended RemoteBye", 1, Duration::from_secs(3))
            .await,
        "{:?}",
        bot.lines()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_capacity_gets_503_with_retry_after() {
    let mut cfg = test_config();
    cfg.max_calls = 1;
    let bot = start_bot(Mode::Answer, cfg).await;
    // 3 calls of 1 s each at once: one is taken, the others get 503 (SIPp counts them failed).
    let r = sipp(
        "uac_bye.xml",
        bot.server.local_addr(),
        &["-m", "3", "-r", "100"],
        10,
    )
    .await;
    assert!(!r.ok, "calls beyond max_calls must fail");
    assert!(
        bot.wait_for("ended RemoteBye", 1, Duration::from_secs(3))
            .await
    );
    assert_eq!(bot.count("call "), 1, "{:?}", bot.lines());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_timer_require_only_when_caller_supports_it() {
    let bot = start_bot(Mode::Answer, test_config()).await;
    // Supported: timer -> Require: timer + Session-Expires 120;refresher=uac, also on UPDATE.
    let r = sipp("uac_session_timer.xml", bot.server.local_addr(), &[], 10).await;
    assert_sipp_ok(&r, "session timer supported");
    // Session-Expires without Supported: timer -> neither Require: timer nor Session-Expires.
    let r = sipp(
        "uac_session_timer_unsupported.xml",
        bot.server.local_addr(),
        &[],
        10,
    )
    .await;
    assert_sipp_ok(&r, "session timer unsupported");
    assert!(
        bot.wait_for("ended RemoteBye", 2, Duration::from_secs(3))
            .await,
        "{:?}",
        bot.lines()
    );
    // Below 90 s -> 422 Min-SE: 90, and the call never reaches the call loop.
    let r = sipp("uac_session_timer_422.xml", bot.server.local_addr(), &[], 5).await;
    assert_sipp_ok(&r, "session interval too small");
    assert_eq!(bot.count("call "), 2, "{:?}", bot.lines());
    assert!(bot.wait_for_idle(Duration::from_secs(2)).await);
}
