use crate::common::TestServer;

#[test]
fn health_and_ready_answer_ok() {
    let s = TestServer::start();
    let c = s.client();
    assert_eq!(c.get("/api/v1/health").body["status"], "ok");
    assert_eq!(c.get("/api/v1/ready").body["status"], "ready");
}
