// Starts Swagger UI or ReDoc on the API documentation pages (service/apidocs.py). A file, not an
// inline script: the app's Content-Security-Policy allows scripts from this server only.
(function () {
  "use strict";
  var body = document.body;
  var url = body.dataset.openapiUrl;
  if (body.dataset.viewer === "swagger" && window.SwaggerUIBundle) {
    window.ui = window.SwaggerUIBundle({
      url: url,
      dom_id: "#swagger-ui",
      deepLinking: true,
      showExtensions: true,
      presets: [window.SwaggerUIBundle.presets.apis, window.SwaggerUIBundle.SwaggerUIStandalonePreset],
      layout: "BaseLayout",
    });
  } else if (body.dataset.viewer === "redoc" && window.Redoc) {
    // No search box: its index runs in a worker made from a blob: URL, which the CSP refuses.
    window.Redoc.init(url, { disableSearch: true }, document.getElementById("redoc"));
  }
})();
