//! The OpenAPI 3.1 document, generated from the handlers' annotations (utoipa), at
//! `/openapi.json`, and a viewer at `/docs`.

use axum::Json;
use axum::response::Html;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{audit, certificates, complaints, reports, requests, zones};

/// The API's document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "ranah",
        description = "Subdomain requests, their approval and the zones of a government agency's domain. \
                       Every call under /api/v1 takes `Authorization: Bearer <token>` (tokens from \
                       `ranah token create`), except a complaint from the public and its challenge. Errors are RFC 9457 problem details with a stable `code`."
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
        zones::subdomain,
        zones::check,
        zones::suspend_for_finding,
        zones::set_end_date,
        zones::clear_end_date,
        zones::confirm,
        zones::confirmations,
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
        complaints::challenge,
        complaints::submit,
        complaints::list,
        complaints::read,
        complaints::assign,
        complaints::answer,
        complaints::close,
    ),
    components(schemas(super::problem::ProblemDetails, super::problem::FieldProblem, certificates::OrderBody)),
    modifiers(&BearerAuth, &Problems),
    tags(
        (name = "requests", description = "Subdomain requests and their workflow"),
        (name = "zones", description = "Zones and their records"),
        (name = "subdomains", description = "The subdomain register, the oversight checker's findings and emergency suspension"),
        (name = "certificates", description = "TLS certificates through ACME: state, chains, managed keys"),
        (name = "complaints", description = "Complaints (pengaduan): from accounts, or from the public with a proof of work; given, answered and closed by the office within the standards' working days"),
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

/// Every error an operation can answer, in one place: the problem media type on every problem
/// response, and the refusals that come from the layers every route shares (authentication,
/// the JSON-body extractor, path and query parsing, faults of ours), so that no operation can
/// forget them.
struct Problems;

impl Problems {
    fn problem(description: &str) -> utoipa::openapi::RefOr<utoipa::openapi::Response> {
        utoipa::openapi::ResponseBuilder::new()
            .description(description)
            .content(
                PROBLEM_JSON,
                utoipa::openapi::Content::new(Some(utoipa::openapi::Ref::from_schema_name(
                    "ProblemDetails",
                ))),
            )
            .build()
            .into()
    }
}

/// The media type of every error body (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

impl Modify for Problems {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::path::ParameterIn;
        for (path, item) in openapi.paths.paths.iter_mut() {
            let ops = [
                item.get.as_mut(),
                item.put.as_mut(),
                item.post.as_mut(),
                item.delete.as_mut(),
                item.patch.as_mut(),
            ];
            for op in ops.into_iter().flatten() {
                let responses = &mut op.responses.responses;
                // Problem bodies are served as application/problem+json.
                for response in responses.values_mut() {
                    if let RefOr::T(r) = response
                        && let Some(content) = r.content.shift_remove("application/json")
                    {
                        let is_problem = matches!(&content, RefOr::T(c)
                            if matches!(&c.schema, Some(RefOr::Ref(x)) if x.ref_location.ends_with("/ProblemDetails")));
                        r.content.insert(
                            if is_problem {
                                PROBLEM_JSON
                            } else {
                                "application/json"
                            }
                            .into(),
                            content,
                        );
                    }
                }
                let mut add = |status: &str, description: &str| {
                    responses
                        .entry(status.to_owned())
                        .or_insert_with(|| Self::problem(description));
                };
                if op.security.is_some() {
                    add(
                        "401",
                        "`unauthorized`: no token, or an unknown, expired or revoked one, or a disabled user",
                    );
                    add(
                        "403",
                        "`no_role_in_effect`: none of the user's roles is in effect today; `forbidden`: the role does not allow this",
                    );
                    add(
                        "503",
                        "`store_unavailable`: the store cannot be reached, or the disk of the data directory is full (the detail says which); nothing was saved, retry later; \
                         `overloaded`: more requests in progress than the server takes \
                         (`Retry-After` says when to retry)",
                    );
                }
                add(
                    "503",
                    "`overloaded`: more requests in progress than the server takes \
                     (`Retry-After` says when to retry)",
                );
                if let Some(RefOr::T(body)) = &op.request_body {
                    add(
                        "408",
                        "`request_timeout`: the body paused longer than the server waits",
                    );
                    if body.content.contains_key("multipart/form-data") {
                        add(
                            "400",
                            "`invalid_upload`: not a multipart form, an unknown field, or no file",
                        );
                        add("413", "`too_large`: a file over the limit");
                        add(
                            "415",
                            "`unsupported_media_type`: not a PDF, PNG or JPEG file",
                        );
                    } else {
                        add("400", "`invalid_json`: the body is not JSON");
                        add("413", "`too_large`: the body is over the limit");
                        add(
                            "415",
                            "`unsupported_media_type`: the body is not sent as application/json",
                        );
                        add(
                            "422",
                            "`validation_failed`: a missing, unknown or invalid field, or a \
                             control character in any text (`control_character`)",
                        );
                    }
                }
                let params = op.parameters.iter().flatten().filter_map(|p| match p {
                    RefOr::T(p) => Some(p),
                    RefOr::Ref(_) => None,
                });
                let (mut in_path, mut in_query) = (false, false);
                for p in params {
                    in_path |= matches!(p.parameter_in, ParameterIn::Path);
                    in_query |= matches!(p.parameter_in, ParameterIn::Query);
                }
                if in_path || path.contains('{') {
                    add(
                        "404",
                        "`not_found`: no such thing, or not visible to the caller",
                    );
                }
                if in_query {
                    add(
                        "400",
                        "`bad_request`: a query parameter that cannot be read",
                    );
                }
                // Every route refuses a control character in the query string, whether it
                // takes parameters or not.
                add(
                    "422",
                    "`validation_failed`: a control character in a query parameter (`control_character`)",
                );
                add(
                    "500",
                    "`internal`: a fault of ranah's own (the server log has the cause)",
                );
            }
        }
    }
}

/// `GET /openapi.json`
pub(crate) async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

/// The Swagger UI release served at `/docs` (see `src/api/viewer/README.md`).
const VIEWER_VERSION: &str = "5.35.0";

/// The viewer's files, served from the binary: `(name, media type, bytes)`.
const VIEWER_FILES: [(&str, &str, &[u8]); 6] = [
    (
        "swagger-ui-bundle.js",
        "text/javascript; charset=utf-8",
        include_bytes!("viewer/swagger-ui-bundle.js"),
    ),
    (
        "swagger-ui.css",
        "text/css; charset=utf-8",
        include_bytes!("viewer/swagger-ui.css"),
    ),
    (
        "favicon-32x32.png",
        "image/png",
        include_bytes!("viewer/favicon-32x32.png"),
    ),
    (
        "init.js",
        "text/javascript; charset=utf-8",
        include_bytes!("viewer/init.js"),
    ),
    (
        "LICENSE",
        "text/plain; charset=utf-8",
        include_bytes!("viewer/LICENSE"),
    ),
    (
        "NOTICE",
        "text/plain; charset=utf-8",
        include_bytes!("viewer/NOTICE"),
    ),
];

/// What the viewer's page may load: its own files and the document, nothing from elsewhere.
/// (Swagger UI sets style attributes, hence `'unsafe-inline'` for styles, never for scripts.)
const VIEWER_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
    img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; \
    base-uri 'none'; form-action 'none'";

/// `GET /docs`: Swagger UI on the document, every file of it served by ranah (an office
/// network without the internet reads it as well). The document itself loads into Postman,
/// Bruno or Insomnia from `/openapi.json`.
pub(crate) async fn viewer() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_SECURITY_POLICY, VIEWER_CSP)],
        Html(viewer_page()),
    )
}

/// `GET /docs/assets/{file}`: one of the viewer's files; any other name is a 404 problem.
pub(crate) async fn viewer_file(
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Result<axum::response::Response, crate::api::problem::Problem> {
    use axum::http::header;
    use axum::response::IntoResponse as _;
    let Some((_, media_type, bytes)) = VIEWER_FILES.iter().find(|(n, _, _)| *n == name) else {
        return Err(crate::api::problem::Problem::new(
            axum::http::StatusCode::NOT_FOUND,
            "not_found",
            "no such file of the API viewer",
        ));
    };
    Ok((
        [
            (header::CONTENT_TYPE, *media_type),
            (header::CACHE_CONTROL, "public, max-age=86400"),
            (header::CONTENT_SECURITY_POLICY, VIEWER_CSP),
        ],
        *bytes,
    )
        .into_response())
}

fn viewer_page() -> String {
    format!(
        r#"<!doctype html>
<html lang="id">
<head>
  <meta charset="utf-8">
  <title>ranah API</title>
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png">
</head>
<body>
  <p>Dokumen OpenAPI: <a href="/openapi.json">/openapi.json</a> (muat ke Postman, Bruno atau Insomnia).
  Penampil: Swagger UI {VIEWER_VERSION} (<a href="/docs/assets/LICENSE">lisensi</a>).</p>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/assets/init.js"></script>
</body>
</html>
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The viewer's files are the pinned release (src/api/viewer/README.md): a changed or
    /// replaced file fails here.
    #[test]
    fn the_viewer_files_are_the_pinned_release() {
        use sha2::Digest as _;
        let sum = |name: &str| {
            let (_, _, bytes) = VIEWER_FILES.iter().find(|(n, _, _)| *n == name).unwrap();
            hex::encode(sha2::Sha256::digest(bytes))
        };
        assert_eq!(
            sum("swagger-ui-bundle.js"),
            "e6a898692f2d768e807c3ba4626068a69a2c5dd960dd6c76f3e4d3a3de180af2"
        );
        assert_eq!(
            sum("swagger-ui.css"),
            "5ed08757e53da3e026d6cbecc61fe5d43585c9560b302d534ad56692519a273d"
        );
        let readme = include_str!("viewer/README.md");
        assert!(readme.contains(&format!("`swagger-ui-dist` {VIEWER_VERSION}")));
    }
}
