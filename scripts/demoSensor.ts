// The `npm start` demo's simulated sensor: the body of its function node, kept here so a test can run it.

/**
 * A room through a day compressed into ten minutes: the temperature follows 21 °C ± 2 (a sine), each reading is
 * pulled back 30 % of the way to that curve and gets a little noise, so it wanders realistically but stays within about
 * a degree of the curve (17–25 °C) however long the demo runs. Humidity moves the other way, around 50 %.
 */
export const SIMULATED_SENSOR = [
  '// A day compressed into ten minutes: 21 °C ± 2, readings pulled back towards the curve, small noise.',
  'const DAY_MS = 10 * 60 * 1000;',
  'const curve = 21 + 2 * Math.sin((2 * Math.PI * (Date.now() % DAY_MS)) / DAY_MS);',
  "const last = context.get('t') ?? curve;",
  'const noise = (Math.random() + Math.random() + Math.random() - 1.5) * 0.2;',
  'const t = Math.round((curve + 0.7 * (last - curve) + noise) * 10) / 10;',
  "context.set('t', t);",
  "flow.set('sent', (flow.get('sent') ?? 0) + 1);",
  "flow.set('lastTemperature', t);",
  'const humidity = Math.round(50 - 4 * (t - 21) + noise * 10);',
  'msg.payload = { temperature: t, humidity, at: new Date().toISOString() };',
  "msg.properties = { unit: 'celsius' };",
  'return msg;',
].join('\n');
