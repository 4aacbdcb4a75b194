// The bookings pages' small helpers (no inline scripts: the Content-Security-Policy allows only our
// static files). "Add booking": the free times of the chosen service and day, and returning
// customers found by name or number. The day view: a click on a free part of a service's column
// opens "Add booking" for that service, day and time.
(function () {
  "use strict";

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) { node.setAttribute(key, attrs[key]); });
    if (text) { node.textContent = text; }
    return node;
  }

  function getJSON(url, done) {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (body) { if (body) { done(body); } })
      .catch(function () { /* the form still works by typing */ });
  }

  function bookingAdd(form) {
    var service = form.querySelector("#id_service"), date = form.querySelector("#id_date"),
        time = form.querySelector("#id_time"), name = form.querySelector("#id_customer_name"),
        phone = form.querySelector("#id_customer_phone"), times = document.getElementById("soniq-free-times"),
        customers = document.getElementById("soniq-customers");

    function showFreeTimes() {
      if (!service.value || !date.value) { times.textContent = ""; return; }
      var url = form.dataset.freeTimesUrl + "?service=" + encodeURIComponent(service.value) + "&date=" + encodeURIComponent(date.value);
      getJSON(url, function (body) {
        times.textContent = "";
        if (!body.times.length) {
          times.appendChild(el("span", {"class": "soniq-quiet"}, body.status === "closed" ? "Closed that day." : "No free times that day."));
          return;
        }
        times.appendChild(el("span", {"class": "soniq-quiet"}, "Free: "));
        body.times.forEach(function (value) {
          var chip = el("button", {"type": "button", "class": "soniq-chip" + (value === time.value ? " selected" : "")}, value);
          chip.addEventListener("click", function () {
            time.value = value;
            times.querySelectorAll(".soniq-chip").forEach(function (other) { other.classList.remove("selected"); });
            chip.classList.add("selected");
          });
          times.appendChild(chip);
        });
      });
    }

    var pending = null;
    function findCustomers(query) {
      clearTimeout(pending);
      pending = setTimeout(function () {
        if (query.trim().length < 2) { customers.textContent = ""; return; }
        getJSON(form.dataset.customersUrl + "?q=" + encodeURIComponent(query), function (body) {
          customers.textContent = "";
          body.customers.forEach(function (customer) {
            var pick = el("button", {"type": "button", "class": "soniq-chip"}, customer.name + " · " + customer.phone_text);
            pick.addEventListener("click", function () {
              name.value = customer.name;
              phone.value = customer.phone;
              customers.textContent = "";
            });
            customers.appendChild(pick);
          });
        });
      }, 200);
    }

    service.addEventListener("change", showFreeTimes);
    date.addEventListener("change", showFreeTimes);
    name.addEventListener("input", function () { findCustomers(name.value); });
    phone.addEventListener("input", function () { findCustomers(phone.value); });
    showFreeTimes();
  }

  function dayView(column) {
    column.addEventListener("click", function (event) {
      if (event.target.closest(".soniq-booking-block")) { return; }
      var rect = column.getBoundingClientRect(), first = Number(column.dataset.firstHour),
          last = Number(column.dataset.lastHour), interval = Number(column.dataset.interval) || 15;
      var minutes = first * 60 + (event.clientY - rect.top) / rect.height * (last - first) * 60;
      minutes = Math.floor(minutes / interval) * interval;
      var hh = String(Math.floor(minutes / 60)).padStart(2, "0"), mm = String(minutes % 60).padStart(2, "0");
      window.location.href = column.dataset.addUrl + "?service=" + column.dataset.service + "&date=" + column.dataset.date + "&time=" + hh + ":" + mm;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("soniq-booking-add");
    if (form) { bookingAdd(form); }
    document.querySelectorAll(".soniq-lane-col[data-add-url]").forEach(dayView);
  });
})();
