/* Map of a project's sites (classifier/project_map.html): Leaflet from our static files, tiles from the
   MAP_TILE_URL setting. The markers come from a JSON script element; the list beside the map carries the
   same sites for people without JavaScript. Safe to load more than once (the fragment may be swapped in
   again by htmx): each map element is set up once. */
(function () {
  "use strict";

  function withLeaflet(src, done) {
    if (window.L) { done(); return; }
    var script = document.querySelector("script[data-leaflet]");
    if (!script) {
      script = document.createElement("script");
      script.src = src;
      script.setAttribute("data-leaflet", "");
      document.head.appendChild(script);
    }
    script.addEventListener("load", done, { once: true });
  }

  function popup(site) {
    // Built as elements, not HTML text: site names are user input.
    var link = document.createElement("a");
    link.href = site.url;
    link.textContent = site.code + " · " + site.name;
    return link;
  }

  function setUp(element) {
    if (element.dataset.ready) { return; }
    var data = document.getElementById(element.dataset.siteMap);
    if (!data) { return; }
    element.dataset.ready = "true";
    var sites = JSON.parse(data.textContent);
    var map = window.L.map(element, { scrollWheelZoom: false });
    window.L.tileLayer(element.dataset.tileUrl, {
      attribution: element.dataset.tileAttribution, maxZoom: 19
    }).addTo(map);
    // Explicit icon URLs: Leaflet's own guess breaks on the hashed file names of collected static files.
    var icon = window.L.icon({
      iconUrl: element.dataset.iconUrl, iconRetinaUrl: element.dataset.iconRetinaUrl,
      shadowUrl: element.dataset.shadowUrl, iconSize: [25, 41], iconAnchor: [12, 41],
      popupAnchor: [1, -34], shadowSize: [41, 41]
    });
    var points = sites.map(function (site) {
      window.L.marker([site.lat, site.lon], { icon: icon, title: site.code + " " + site.name, alt: site.code })
        .bindPopup(popup(site)).addTo(map);
      return [site.lat, site.lon];
    });
    if (points.length === 1) {
      map.setView(points[0], 13);
    } else {
      map.fitBounds(points, { padding: [24, 24], maxZoom: 15 });
    }
  }

  function setUpAll(root) {
    (root || document).querySelectorAll("[data-site-map]").forEach(function (element) {
      withLeaflet(element.dataset.leafletSrc, function () { setUp(element); });
    });
  }

  if (!window.batsiteSiteMap) {
    window.batsiteSiteMap = true;
    document.addEventListener("htmx:afterSettle", function (event) { setUpAll(event.target); });
  }
  setUpAll(document);
})();
