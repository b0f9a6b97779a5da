'use strict';
// In the image Node is PID 1, and the kernel drops any signal PID 1 has no handler for; Node's
// own SIGTERM/SIGINT handler (which resets the terminal and re-raises) does not count, since the
// re-raised signal meets the default action and is dropped. A `docker stop` sent while serve was
// still requiring its modules was therefore lost until Docker killed the container (outside a
// container the same signal killed the process). cli.js installs this placeholder on its first
// line: a signal caught by it is delivered by the event loop, which turns only after serve's
// own handlers are in place, so they are the ones that receive it.

const placeholder = () => {};

function hold() {
  process.on('SIGTERM', placeholder);
  process.on('SIGINT', placeholder);
}

/** Called once the real handlers are installed (removing the placeholder first would leave a gap). */
function release() {
  process.off('SIGTERM', placeholder);
  process.off('SIGINT', placeholder);
}

module.exports = { hold, release };
