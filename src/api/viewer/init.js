// Starts Swagger UI on ranah's own OpenAPI document. Every file of the page comes from ranah
// (no CDN), so /docs works on an office network without the internet; the validator badge,
// which would ask validator.swagger.io about the document, is off.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
