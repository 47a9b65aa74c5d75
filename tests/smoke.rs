//! The shortest end-to-end path: log in, upload, download, compare bytes.
mod common;

each_model!(upload_then_download_same_bytes);

fn upload_then_download_same_bytes() {
    let srv = common::start(|_| {});
    let mut c = srv.client();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    c.put_file("x.bin", &mut std::io::Cursor::new(data.clone()))
        .unwrap();
    assert_eq!(std::fs::read(srv.path("x.bin")).unwrap(), data);
    let got = c.retr_as_buffer("x.bin").unwrap().into_inner();
    assert_eq!(got, data);
    c.quit().unwrap();
    srv.events
        .wait_for("disconnect", |e| e.iter().any(|x| x == "disconnect"));
}
