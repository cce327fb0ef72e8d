// The API docs page: Swagger UI (vendored under static/vendor/) on the spec URL the server
// hands over in #docs-config. Nothing is fetched from anywhere but this service.
(function () {
  "use strict";
  var config = JSON.parse(document.getElementById("docs-config").textContent);
  window.ui = window.SwaggerUIBundle({
    url: config.specUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null, // the default would send the spec to an outside validator
    presets: [window.SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    persistAuthorization: false,
    tryItOutEnabled: false,
  });
})();
