//! The OpenAPI 3.1 document, generated from the handlers' annotations (utoipa), at
//! `/openapi.json`, and a viewer at `/docs`.

use axum::Json;
use axum::response::Html;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{audit, certificates, reports, requests, zones};

/// The API's document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "ranah",
        description = "Subdomain requests, their approval and the zones of a government agency's domain. \
                       Every call under /api/v1 takes `Authorization: Bearer <token>` (tokens from \
                       `ranah token create`). Errors are RFC 9457 problem details with a stable `code`."
    ),
    paths(
        super::healthz,
        super::readyz,
        super::metrics::metrics,
        requests::submit,
        requests::list,
        requests::read,
        requests::act,
        requests::resubmit,
        requests::attach,
        requests::download,
        zones::list,
        zones::one,
        zones::records,
        zones::export,
        zones::subdomains,
        zones::suspend,
        zones::unsuspend,
        audit::list,
        audit::verify,
        reports::service,
        certificates::list,
        certificates::one,
        certificates::chain,
        certificates::key,
        certificates::order,
    ),
    components(schemas(super::problem::ProblemDetails, super::problem::FieldProblem, certificates::OrderBody)),
    modifiers(&BearerAuth),
    tags(
        (name = "requests", description = "Subdomain requests and their workflow"),
        (name = "zones", description = "Zones and their records"),
        (name = "subdomains", description = "The subdomain register and emergency suspension"),
        (name = "certificates", description = "TLS certificates through ACME: state, chains, managed keys"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

/// `GET /openapi.json`
pub(crate) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// `GET /docs`: a page that renders the document. The viewer script comes from a CDN in the
/// reader's browser; the document itself is served here and loads into Postman, Bruno or
/// Insomnia from `/openapi.json` without it.
pub(crate) async fn viewer() -> Html<&'static str> {
    Html(
        r#"<!doctype html>
<html lang="id">
<head>
  <meta charset="utf-8">
  <title>ranah API</title>
  <meta name="viewport" content="width=device-width, initial-scale=1">
</head>
<body>
  <p>Dokumen OpenAPI: <a href="/openapi.json">/openapi.json</a> (muat ke Postman, Bruno atau Insomnia).</p>
  <redoc spec-url="/openapi.json"></redoc>
  <script src="https://cdn.redoc.ly/redoc/latest/bundles/redoc.standalone.js"></script>
</body>
</html>
"#,
    )
}
