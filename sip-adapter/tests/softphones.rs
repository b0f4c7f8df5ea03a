//! baresip and linphone completing a call: answer, media both ways, hang up.

mod common;

use std::time::Duration;

use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_call_media_both_ways_ivr_hangs_up() {
    let bot = start_bot(Mode::AnswerThenHangup(2500), test_config()).await;
    let dir = std::env::temp_dir().join(format!("ivr-baresip-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // 3 s of tone then 3 s of silence: aufile hangs up at the end of its file.
    let wav = dir.join("caller.wav");
    let st = std::process::Command::new("sox")
        .args(["-n", "-r", "8000", "-c", "1", "-b", "16"])
        .arg(&wav)
        .args(["synth", "3", "sine", "440", "pad", "0", "3"])
        .status()
        .expect("sox runs");
    assert!(st.success());
    let baresip = ivr_test_support::Baresip::configure(&dir, &wav).expect("baresip config");
    let out = tokio::process::Command::from(
        baresip.dial(&format!("sip:ivr@{}", bot.server.local_addr()), 5),
    )
    .kill_on_drop(true)
    .output()
    .await
    .expect("baresip runs");
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        bot.wait_for("ended LocalHangup", 1, Duration::from_secs(3))
            .await,
        "{:?}\n{log}",
        bot.lines()
    );
    assert!(
        bot.lines()
            .iter()
            .any(|l| l == "answered codec=Pcmu pt=0 dtmf=Some(101)"),
        "{:?}",
        bot.lines()
    );
    let (n, pt) = bot.rtp.lock().unwrap()[0];
    assert!(n >= 50, "only {n} RTP packets from baresip\n{log}");
    assert_eq!(pt, Some(0));
    // sndfile records what baresip heard from us (our silence packets).
    let heard = baresip.heard();
    let Some(heard) = heard else {
        panic!("baresip recorded nothing it heard\n{log}");
    };
    let size = heard.metadata().unwrap().len();
    assert!(
        size > 44 + 8000,
        "baresip heard too little audio ({size} bytes)\n{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A `linphone-daemon` (package linphone-cli) driven over its stdin command protocol:
/// no TTY, no sound card. Its stdout (command replies and events) is collected.
struct Linphone {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    out: std::sync::Arc<std::sync::Mutex<String>>,
    log_file: std::path::PathBuf,
}

impl Linphone {
    async fn send(&mut self, cmd: &str) {
        use tokio::io::AsyncWriteExt;
        self.stdin
            .write_all(format!("{cmd}\n").as_bytes())
            .await
            .expect("write to linphone-daemon");
        self.stdin.flush().await.unwrap();
    }
    fn output(&self) -> String {
        self.out.lock().unwrap().clone()
    }
    async fn wait_output(&self, needle: &str, within: Duration) -> bool {
        let end = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < end {
            if self.output().contains(needle) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
    fn diagnostics(&self) -> String {
        let log = std::fs::read_to_string(&self.log_file).unwrap_or_default();
        format!(
            "linphone-daemon stdout:\n{}\nlinphone log (tail):\n{}",
            self.output(),
            &log[log.len().saturating_sub(6000)..]
        )
    }
}

/// `received N packets` from oRTP's end-of-session statistics in linphone's log.
fn linphone_rtp_received(log: &str) -> Option<u64> {
    let stats = &log[log.find("AUDIO SESSION'S RTP STATISTICS")?..];
    let line = stats
        .lines()
        .find(|l| l.contains("ortp-message-received "))?;
    line.split_whitespace().rev().nth(1)?.parse().ok()
}

/// One call from linphone to the bot. `linphone_hangs_up`: linphone sends a DTMF digit as
/// SIP INFO and then `terminate`s; otherwise the bot hangs up after 3 s.
async fn linphone_call(linphone_hangs_up: bool) {
    let mode = if linphone_hangs_up {
        Mode::Answer
    } else {
        Mode::AnswerThenHangup(3000)
    };
    let bot = start_bot(mode, test_config()).await;
    let dir = std::env::temp_dir().join(format!(
        "ivr-linphone-{}-{linphone_hangs_up}",
        std::process::id()
    ));
    let home = dir.join("home");
    // linphone refuses to start without its data dir (DESIGN.md §8).
    std::fs::create_dir_all(home.join(".local/share/linphone")).unwrap();
    let wav = dir.join("caller.wav");
    let st = std::process::Command::new("sox")
        .args(["-n", "-r", "8000", "-c", "1", "-b", "16"])
        .arg(&wav)
        .args(["synth", "3", "sine", "440", "pad", "0", "2"])
        .status()
        .expect("sox runs");
    assert!(st.success());
    let (sip_port, rtp_port) = (free_udp_port(), free_media_port());
    let rc = dir.join("linphonerc");
    // [rtp] bind_address and use_ipv6=0 make the SDP say c=IN IP4 127.0.0.1 (otherwise
    // linphone advertises the host's global IPv6 address). use_info: DTMF as SIP INFO
    // (then linphone offers no telephone-event at all).
    let dtmf = if linphone_hangs_up {
        "use_info=1\nuse_rfc2833=0\n"
    } else {
        ""
    };
    std::fs::write(
        &rc,
        format!(
            "[sip]\nbind_address=127.0.0.1\nsip_port={sip_port}\nsip_tcp_port=-1\nuse_ipv6=0\n\
             contact=sip:caller@127.0.0.1\n{dtmf}\
             [rtp]\nbind_address=127.0.0.1\naudio_rtp_port={rtp_port}\n\
             [video]\nenabled=0\n"
        ),
    )
    .unwrap();
    let log_file = dir.join("linphone.log");
    let mut child = tokio::process::Command::new("linphone-daemon")
        .env("HOME", &home)
        .arg("--config")
        .arg(&rc)
        .arg("--log")
        .arg(&log_file)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("linphone-daemon runs (Debian package linphone-cli)");
    let stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let out2 = out.clone();
    tokio::spawn(async move {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf).await {
            if n == 0 {
                break;
            }
            out2.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    let mut lp = Linphone {
        child,
        stdin,
        out,
        log_file,
    };
    lp.send(&format!("call sip:ivr@{}", bot.server.local_addr()))
        .await;
    assert!(
        lp.wait_output("LinphoneCallStreamsRunning", Duration::from_secs(5))
            .await,
        "{:?}\n{}",
        bot.lines(),
        lp.diagnostics()
    );
    // Without a sound card linphone's capture is an idle file player: play the tone instead.
    lp.send(&format!("incall-player-start {}", wav.display()))
        .await;
    if linphone_hangs_up {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        lp.send("dtmf 5").await;
        assert!(
            bot.wait_for("Dtmf(", 1, Duration::from_secs(3)).await,
            "{:?}\n{}",
            bot.lines(),
            lp.diagnostics()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        lp.send("terminate").await;
    }
    assert!(
        lp.wait_output("LinphoneCallEnd", Duration::from_secs(6))
            .await,
        "{:?}\n{}",
        bot.lines(),
        lp.diagnostics()
    );
    let ended = if linphone_hangs_up {
        "ended RemoteBye"
    } else {
        "ended LocalHangup"
    };
    assert!(
        bot.wait_for(ended, 1, Duration::from_secs(3)).await,
        "{:?}\n{}",
        bot.lines(),
        lp.diagnostics()
    );
    // NB: the daemon's `call-stats` command segfaults linphone-daemon 5.1.65: don't use it.
    lp.send("quit").await;
    let _ = tokio::time::timeout(Duration::from_secs(3), lp.child.wait()).await;
    let log = std::fs::read_to_string(&lp.log_file).unwrap_or_default();
    let lines = bot.lines();
    if linphone_hangs_up {
        // No telephone-event offered (use_rfc2833=0): none in the answer; DTMF came as INFO.
        assert!(
            lines
                .iter()
                .any(|l| l == "answered codec=Pcmu pt=0 dtmf=None"),
            "{lines:?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("Dtmf(InfoDtmf { digit: '5'")),
            "{lines:?}"
        );
    } else {
        // The answer mirrors linphone's 8 kHz telephone-event payload type.
        let answered = lines
            .iter()
            .find(|l| l.starts_with("answered codec=Pcmu pt=0 dtmf=Some("))
            .unwrap_or_else(|| panic!("{lines:?}"));
        let te_pt = answered
            .trim_end_matches(')')
            .rsplit('(')
            .next()
            .unwrap_or_default();
        assert!(
            log.contains(&format!("a=rtpmap:{te_pt} telephone-event/8000")),
            "linphone did not offer telephone-event/8000 at PT {te_pt}: {lines:?}"
        );
    }
    // linphone -> ivr: the tone, PCMU, 50 packets/s.
    let (n, pt) = bot.rtp.lock().unwrap()[0];
    assert!(
        n >= 50,
        "only {n} RTP packets from linphone\n{}",
        lp.diagnostics()
    );
    assert_eq!(pt, Some(0));
    // ivr -> linphone: the bot sends exactly 50 silence packets; oRTP counts what arrived.
    let received = linphone_rtp_received(&log);
    assert_eq!(
        received,
        Some(50),
        "linphone's RTP receive count\n{}",
        lp.diagnostics()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linphone_call_media_both_ways_ivr_hangs_up() {
    linphone_call(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn linphone_call_info_dtmf_linphone_hangs_up() {
    linphone_call(true).await;
}
