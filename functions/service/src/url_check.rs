//! The last sign that an environment is ready: its URL answers, asked from outside the VPC as a
//! user asks it. Running tasks and healthy targets are not enough: a new load balancer's name
//! can take a while to answer, and a listener can point elsewhere.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::{Request, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The environment variable with the address (`host:port`) to send the check to instead of the
/// load balancer's name: the local world answers for load balancers there.
pub const LOAD_BALANCER_ADDRESS_VAR: &str = "LOAD_BALANCER_ADDRESS";

/// Well inside the function's timeout: a check that hangs counts as not answering yet.
const TIMEOUT: Duration = Duration::from_secs(5);

/// What a GET of the URL got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// An HTTP answer that is not the load balancer's own "no target answered" (502-504): the
    /// app's, or a listener's redirect.
    Answered(u16),
    /// Why it does not answer yet.
    NotYet(String),
}

/// GETs `url` (plain HTTP) once, through `address` when given.
pub async fn answer(url: &str, address: Option<&str>) -> Answer {
    match tokio::time::timeout(TIMEOUT, get(url, address)).await {
        Ok(Ok(status)) if (502..=504).contains(&status) => {
            Answer::NotYet(format!("{url} answers {status}"))
        }
        Ok(Ok(status)) => Answer::Answered(status),
        Ok(Err(why)) => Answer::NotYet(format!("{url} does not answer: {why}")),
        Err(_) => Answer::NotYet(format!(
            "{url} did not answer within {} s",
            TIMEOUT.as_secs()
        )),
    }
}

async fn get(url: &str, address: Option<&str>) -> Result<u16, String> {
    let uri: Uri = url.parse().map_err(|e| format!("{e}"))?;
    let host = uri.host().ok_or("no host")?.to_string();
    let port = uri.port_u16().unwrap_or(80);
    let target = address.map_or_else(|| format!("{host}:{port}"), str::to_string);
    let stream = TcpStream::connect(&target)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    // The connection is driven beside the request and ends with it.
    let driven = tokio::spawn(connection);
    let request = Request::get(uri.path_and_query().map_or("/", |p| p.as_str()))
        .header(hyper::header::HOST, format!("{host}:{port}"))
        .header(hyper::header::USER_AGENT, "fargate-provisioner")
        .body(Empty::<Bytes>::new())
        .map_err(|e| e.to_string())?;
    let sent = sender.send_request(request).await;
    driven.abort();
    Ok(sent.map_err(|e| e.to_string())?.status().as_u16())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-shot server answering `status`; returns its address and what it was asked.
    async fn server(status: &'static str) -> (String, tokio::task::JoinHandle<String>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let asked = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = vec![0; 4096];
            let n = socket.read(&mut request).await.unwrap();
            let answer = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n");
            socket.write_all(answer.as_bytes()).await.unwrap();
            String::from_utf8_lossy(&request[..n]).to_string()
        });
        (address, asked)
    }

    #[tokio::test]
    async fn the_check_asks_the_path_of_the_load_balancer_by_name_and_reads_the_status() {
        let url = "http://demo-alb-1.us-east-1.elb.amazonaws.com:80/health";
        let (address, asked) = server("200 OK").await;
        assert_eq!(answer(url, Some(&address)).await, Answer::Answered(200));
        let asked = asked.await.unwrap();
        assert!(asked.starts_with("GET /health HTTP/1.1\r\n"), "{asked}");
        assert!(
            asked
                .to_ascii_lowercase()
                .contains("host: demo-alb-1.us-east-1.elb.amazonaws.com:80"),
            "{asked}"
        );

        let (address, _) = server("301 Moved Permanently").await;
        assert_eq!(answer(url, Some(&address)).await, Answer::Answered(301));
        let (address, _) = server("503 Service Unavailable").await;
        assert_eq!(
            answer(url, Some(&address)).await,
            Answer::NotYet(format!("{url} answers 503"))
        );
    }

    #[tokio::test]
    async fn nothing_listening_is_not_yet_with_the_reason() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        drop(listener);
        let Answer::NotYet(why) = answer("http://x.elb.amazonaws.com/", Some(&address)).await
        else {
            panic!("a closed port does not answer");
        };
        assert!(why.contains("does not answer"), "{why}");
    }
}
