//! The web app: static files from `server.web_root` with a fallback to `index.html` for client
//! routes, or a built-in page while no web app has been built.

use actix_files::{Files, NamedFile};
use actix_web::dev::{fn_service, ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::web::ServiceConfig;
use actix_web::HttpResponse;
use std::path::PathBuf;

/// Shown at `/` when `server.web_root` holds no built web app.
const PLACEHOLDER: &str = include_str!("../../../frontend/placeholder.html");

/// Mounts the web app at `/`.
pub fn configure(cfg: &mut ServiceConfig, web_root: PathBuf) {
    let index = web_root.join("index.html");
    if index.is_file() {
        cfg.service(
            Files::new("/", web_root)
                .index_file("index.html")
                .prefer_utf8(true)
                .default_handler(fn_service(move |req: ServiceRequest| {
                    let index = index.clone();
                    async move {
                        let (req, _) = req.into_parts();
                        let file = NamedFile::open(&index)?;
                        let res = file.into_response(&req);
                        Ok(ServiceResponse::new(req, res))
                    }
                })),
        );
    } else {
        cfg.default_service(fn_service(|req: ServiceRequest| async move {
            let res = HttpResponse::Ok()
                .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
                .insert_header((header::CACHE_CONTROL, "no-cache"))
                .body(PLACEHOLDER);
            Ok(req.into_response(res))
        }));
    }
}
