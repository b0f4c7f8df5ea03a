//! baresip (and linphone, see below) completing a call: answer, media both ways, hang up.

mod common;

use std::time::Duration;

use common::*;

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_call_media_both_ways_ivr_hangs_up() {
    let bot = start_bot(Mode::AnswerThenHangup(2500), test_config()).await;
    let dir = std::env::temp_dir().join(format!("ivr-baresip-{}", std::process::id()));
    let rec = dir.join("rec");
    std::fs::create_dir_all(&rec).unwrap();
    // 3 s of tone then 3 s of silence: aufile hangs up at the end of its file.
    let wav = dir.join("caller.wav");
    let st = std::process::Command::new("sox")
        .args(["-n", "-r", "8000", "-c", "1", "-b", "16"])
        .arg(&wav)
        .args(["synth", "3", "sine", "440", "pad", "0", "3"])
        .status()
        .expect("sox runs");
    assert!(st.success());
    let port = free_udp_port();
    std::fs::write(
        dir.join("config"),
        format!(
            "module_path /usr/lib/baresip/modules\nsip_listen 127.0.0.1:{port}\n\
             audio_source aufile,{}\naudio_player aubridge,nowhere\naudio_alert aubridge,nowhere\n\
             module g711.so\nmodule aufile.so\nmodule aubridge.so\nmodule sndfile.so\n\
             module_app menu.so\nmodule_app account.so\nsnd_path {}\n",
            wav.display(),
            rec.display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("accounts"),
        "<sip:caller@127.0.0.1>;regint=0;audio_codecs=PCMU/8000/1\n",
    )
    .unwrap();
    let out = tokio::process::Command::new("baresip")
        .arg("-f")
        .arg(&dir)
        .arg("-e")
        .arg(format!("/dial sip:ivr@{}", bot.server.local_addr()))
        .args(["-t", "5"])
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
    let heard: Vec<_> = std::fs::read_dir(&rec)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with("-dec.wav"))
        .collect();
    assert!(
        !heard.is_empty(),
        "baresip recorded nothing it heard\n{log}"
    );
    let size = heard[0].metadata().unwrap().len();
    assert!(
        size > 44 + 8000,
        "baresip heard too little audio ({size} bytes)\n{log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
