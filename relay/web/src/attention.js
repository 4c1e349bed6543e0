// Getting the human's attention while the page is open: vibration, a short WebAudio beep the
// human can switch off (kept in localStorage), and the pending count in the title.
let audio = null;
export const soundOn = () => localStorage.getItem("hitl-sound") !== "off";
export function setSound(on) { localStorage.setItem("hitl-sound", on ? "on" : "off"); }

export function alertHuman() {
  if (navigator.vibrate) navigator.vibrate([120, 60, 120]);
  if (!soundOn()) return;
  try {
    audio = audio || new AudioContext();
    const osc = audio.createOscillator();
    const gain = audio.createGain();
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.15, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.25);
    osc.connect(gain).connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.25);
  } catch { /* no audio (autoplay policy): vibration and the title still tell */ }
}

export function badge(count) {
  document.title = count ? `(${count}) hitl-desk` : "hitl-desk";
}
