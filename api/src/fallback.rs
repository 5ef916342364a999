//! Answers requests no route took: 405 with `Allow` when the path exists under another method,
//! else 404. The known paths come from the OpenAPI document, which is built from the routes.

use actix_web::dev::ResourceDef;
use actix_web::{HttpRequest, HttpResponse, web};
use utoipa::openapi::OpenApi;

use crate::error::ApiError;

/// Every documented path and the methods it answers.
#[derive(Debug, Default)]
pub struct RouteTable(Vec<(ResourceDef, Vec<String>)>);

impl RouteTable {
    /// Reads the paths and methods out of the API document.
    pub fn from_openapi(api: &OpenApi) -> Self {
        let routes = api
            .paths
            .paths
            .iter()
            .map(|(path, item)| {
                let mut methods: Vec<String> = [
                    ("GET", item.get.is_some()),
                    ("PUT", item.put.is_some()),
                    ("POST", item.post.is_some()),
                    ("DELETE", item.delete.is_some()),
                    ("PATCH", item.patch.is_some()),
                ]
                .into_iter()
                .filter(|(_, present)| *present)
                .map(|(m, _)| m.to_owned())
                .collect();
                if item.get.is_some() {
                    methods.push("HEAD".into());
                }
                (ResourceDef::new(path.as_str()), methods)
            })
            .collect();
        Self(routes)
    }

    /// The methods allowed on `path`, if it is a known path.
    fn allowed(&self, path: &str) -> Option<&[String]> {
        self.0
            .iter()
            .find(|(def, _)| def.is_match(path))
            .map(|(_, methods)| methods.as_slice())
    }
}

/// The app's default service.
pub async fn not_matched(
    req: HttpRequest,
    routes: web::Data<RouteTable>,
) -> Result<HttpResponse, ApiError> {
    Err(match routes.allowed(req.path()) {
        Some(allow) => ApiError::MethodNotAllowed {
            allow: allow.to_vec(),
        },
        None => ApiError::NotFound,
    })
}
