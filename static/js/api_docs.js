// The API docs page (templates/api/docs.html): Swagger UI from our own static files, pointed at the schema
// the app serves. validatorUrl null: the UI would otherwise send the schema to an outside validator.
(function () {
  "use strict";
  function start() {
    var holder = document.getElementById("swagger-ui");
    window.ui = SwaggerUIBundle({
      url: holder.dataset.openapiUrl,
      dom_id: "#swagger-ui",
      deepLinking: true,
      layout: "BaseLayout",
      presets: [SwaggerUIBundle.presets.apis],
      validatorUrl: null,
      persistAuthorization: false,
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
