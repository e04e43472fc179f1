/**
 * "Use my location" for the report form: an enhancement only. Without JavaScript (or without a
 * location service) the resident types the coordinates or an address; with it, a button fills the
 * latitude and longitude fields from the device. The button is made here, so no page shows a
 * button that cannot work.
 */
for (const host of Array.from(document.querySelectorAll<HTMLElement>('[data-island="requests-locate"]'))) {
  if (!('geolocation' in navigator)) continue;
  const lat = document.getElementById(host.dataset.lat ?? 'f-lat') as HTMLInputElement | null;
  const lng = document.getElementById(host.dataset.lng ?? 'f-lng') as HTMLInputElement | null;
  if (!lat || !lng) continue;
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'usa-button usa-button--outline';
  button.textContent = host.dataset.label ?? 'Use my location';
  const status = document.createElement('p');
  status.className = 'usa-hint';
  status.setAttribute('role', 'status');
  button.addEventListener('click', () => {
    status.textContent = host.dataset.busy ?? '…';
    navigator.geolocation.getCurrentPosition(
      (pos) => {
        lat.value = pos.coords.latitude.toFixed(6);
        lng.value = pos.coords.longitude.toFixed(6);
        status.textContent = host.dataset.done ?? '';
      },
      () => {
        status.textContent = host.dataset.error ?? '';
      },
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 },
    );
  });
  host.append(button, status);
}
