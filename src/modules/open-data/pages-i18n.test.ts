// The officials' and visitors' pages say every refusal in the visitor's language (es-AR by default,
// en on request): CKAN's English validation messages (the API's) on the dataset forms, refused
// uploads (ragged rows, encodings, too large), the dictionary's reload, preview filters, status
// changes, themes, a failed load job, the dictionary's type names, and the budget explorer when
// the budget's amounts are text. None of them is a 500, and none shows CKAN's raw English.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { TestClient, createTestApp, createOffice, createUser, multipart, type TestContext } from '../../core/testing/harness';
import { ckanFixture, type CkanClient } from './testing';
import { manifest } from './manifest';
import { odDb } from './store';
import { loadSettings } from './publishing';

let t: TestContext;
let editor: CkanClient;
let officeSlug: string;
let memberId: number;
let juniorId: number;
let strangerId: number;

const LANGS = ['es-AR', 'en'] as const;
type Lang = (typeof LANGS)[number];
/** The URL as each language asks for it (a lang parameter switches the session's language). */
const inLang = (path: string, lang: Lang) => `${path}${path.includes('?') ? '&' : '?'}lang=${lang === 'en' ? 'en' : 'es'}`;

before(async () => {
  ({ t, editor, officeSlug, memberId, juniorId, strangerId } = await ckanFixture({
    office: ['direccion-de-estadistica', 'Dirección General de Estadística y Censos'],
    otherOffice: ['legislatura', 'Legislatura'],
    themes: [['poblacion', 'Población']],
  }));
  await editor.action.package_create({ name: 'censo', title: 'Censo', notes: 'Censo de población.', owner_org: officeSlug, groups: [{ name: 'poblacion' }] });
});

after(async () => {
  await t.close();
});

/** A member of the office (its administrator), signed in, with a page loaded (its CSRF token). */
async function member(path = '/datasets/censo'): Promise<TestClient> {
  const client = await new TestClient(t.app).signInAs(t.services, memberId);
  await client.get(path);
  return client;
}

/** The text of the error page (its lead paragraph), unescaped. */
const lead = (html: string) => (/<p class="usa-intro">([^<]*)<\/p>/.exec(html)?.[1] ?? '').replace(/&quot;/g, '"').replace(/&amp;/g, '&').replace(/&#39;/g, "'");

/** A multipart form as the resource forms post it (their CSRF token in the action's URL). */
function postFile(client: TestClient, path: string, fields: Record<string, string>, file?: { filename: string; data: Buffer }) {
  const body = multipart(fields, file ? [{ name: 'upload', filename: file.filename, type: 'text/csv', data: file.data }] : []);
  return client.request({ method: 'POST', url: `${path}${path.includes('?') ? '&' : '?'}_csrf=${encodeURIComponent(client.csrf)}`, ...body });
}

/** CKAN's English validation messages that must not reach a page. */
const RAW_ENGLISH = /Must be purely lowercase|Email address is not valid|Tag &quot;|Date format incorrect|is not an ISO 8601 repeating|Group &quot;|Organization does not exist|That URL is already in use|That name cannot be used|Missing value|not authorized|[a-z_]+: \[/;

test('the new-dataset form says what is wrong with each field in the visitor\'s language, with the field\'s label, never CKAN\'s English', async () => {
  const client = await member('/datasets/new');
  await editor.action.package_create({ name: 'tomado', title: 'Tomado', owner_org: officeSlug });
  const base = { title: 'Hogares', notes: 'Hogares por comuna.', owner_org: officeSlug, license_id: 'CC-BY-4.0', accrualPeriodicity: 'R/P1Y', language: 'spa' };
  const cases: Array<{ body: Record<string, string | string[]>; status: number; es: string[]; en: string[] }> = [
    {
      // Everything CKAN's dict checks at once: they are all listed.
      body: { ...base, name: 'Hogares 2022!', maintainer_email: 'no es un correo', tags: `censo, ${'x'.repeat(101)}`, issued: '2022-02-30', accrualPeriodicity: 'cada tanto' },
      status: 400,
      es: [
        '<a href="#f-name">Nombre en la dirección web</a>: Usá de 2 a 100 caracteres: solo minúsculas sin acentos, números, - y _ (por ejemplo arbolado-publico).',
        '<a href="#f-maintainer_email">Correo de contacto</a>: Escribí un correo válido, por ejemplo datos@example.org.',
        `<a href="#f-tags">Palabras clave</a>: Cada palabra clave debe tener de 1 a 100 caracteres: «${'x'.repeat(101)}» no cumple.`,
        '<a href="#f-issued">Fecha de publicación</a>: La fecha debe tener el formato AAAA-MM-DD (ISO 8601) y existir en el calendario.',
        '<a href="#od-period">Frecuencia de actualización</a>: La periodicidad debe ser un intervalo ISO 8601',
      ],
      en: [
        '<a href="#f-name">Name in the web address</a>: Use 2 to 100 characters: lower-case letters without accents, digits, - and _ only (e.g. street-trees).',
        '<a href="#f-maintainer_email">Contact email</a>: Enter a valid email address, e.g. data@example.org.',
        `<a href="#f-tags">Keywords</a>: Each keyword must be 1 to 100 characters long: “${'x'.repeat(101)}” is not.`,
        '<a href="#f-issued">Date of publication</a>: The date must be written YYYY-MM-DD (ISO 8601) and exist in the calendar.',
        '<a href="#od-period">Update frequency</a>: The update frequency must be an ISO 8601 repeating interval',
      ],
    },
    { body: { ...base, name: '' }, status: 400, es: ['Nombre en la dirección web</a>: Escribí el nombre que va en la dirección web.'], en: ['Name in the web address</a>: Enter the name that goes in the web address.'] },
    { body: { ...base, name: 'tomado' }, status: 400, es: ['Ya hay un conjunto de datos con ese nombre (quizás eliminado): elegí otro.'], en: ['There is already a dataset with that name (perhaps deleted): choose another one.'] },
    { body: { ...base, name: 'budget' }, status: 400, es: ['«budget» es el nombre de una página del catálogo: elegí otro.'], en: ['“budget” is the name of a catalogue page: choose another one.'] },
    // Forged forms: a theme that does not exist, an office that does not exist, another office.
    { body: { ...base, name: 'hogares', theme: ['poblacion', 'no-existe'] }, status: 400, es: ['<a href="#od-theme-0">Sector</a>: El sector «no-existe» no existe (quizás lo eliminaron): elegí otro de la lista.'], en: ['<a href="#od-theme-0">Sector</a>: The sector “no-existe” does not exist (it may have been deleted): choose another one from the list.'] },
    { body: { ...base, name: 'hogares', owner_org: 'no-such-office' }, status: 400, es: ['<a href="#od-owner">Publicado por</a>: Ese organismo no existe: elegí uno de la lista.'], en: ['<a href="#od-owner">Published by</a>: That office does not exist: choose one from the list.'] },
    { body: { ...base, name: 'hogares', owner_org: 'legislatura' }, status: 403, es: ['<a href="#od-owner">Publicado por</a>: Solo publicás por los organismos de los que sos miembro: elegí uno de la lista.'], en: ['<a href="#od-owner">Published by</a>: You publish only for the offices you are a member of: choose one from the list.'] },
  ];
  for (const c of cases) {
    for (const lang of LANGS) {
      const res = await client.post(inLang('/datasets/new', lang), c.body);
      assert.equal(res.statusCode, c.status, `${lang} ${JSON.stringify(c.body)}`);
      assert.match(res.body, /usa-alert--error/);
      for (const text of lang === 'en' ? c.en : c.es) assert.ok(res.body.includes(text), `${lang}: ${text}\n${/<ul>(.*?)<\/ul>/.exec(res.body)?.[1]}`);
      assert.doesNotMatch(res.body, RAW_ENGLISH, lang);
      // The form comes back with what was typed.
      if (c.body.name) assert.match(res.body, new RegExp(`value="${String(c.body.name).replace(/[!]/g, '\\$&')}"`));
    }
  }
  assert.ok(!((await editor.action.package_list()) as string[]).includes('hogares'), 'nothing was created');
});

test('the edit form: CKAN\'s refusals in the editor\'s language; moving the dataset to another office is a 403 that says so', async () => {
  const client = await member('/datasets/censo/edit');
  const base = { title: 'Censo', notes: 'Censo de población.', owner_org: officeSlug, license_id: 'CC-BY-4.0', accrualPeriodicity: 'R/P1Y' };
  for (const lang of LANGS) {
    const email = await client.post(inLang('/datasets/censo/edit', lang), { ...base, maintainer_email: 'censo(at)example.org', modified: 'ayer' });
    assert.equal(email.statusCode, 400);
    assert.ok(email.body.includes(lang === 'en' ? 'Contact email</a>: Enter a valid email address' : 'Correo de contacto</a>: Escribí un correo válido'), lang);
    assert.ok(email.body.includes(lang === 'en' ? 'Last update of the data</a>: The date must be written YYYY-MM-DD' : 'Última actualización de los datos</a>: La fecha debe tener el formato AAAA-MM-DD'), lang);
    assert.doesNotMatch(email.body, RAW_ENGLISH);
    const moved = await client.post(inLang('/datasets/censo/edit', lang), { ...base, owner_org: 'legislatura' });
    assert.equal(moved.statusCode, 403);
    assert.ok(moved.body.includes(lang === 'en' ? 'You publish only for the offices you are a member of' : 'Solo publicás por los organismos de los que sos miembro'), lang);
  }
  assert.equal(((await editor.action.package_show({ id: 'censo' })) as { organization: { name: string } }).organization.name, officeSlug);
  // Another office's official: a 403 page that says why.
  const other = await new TestClient(t.app).signInAs(t.services, strangerId);
  const theirs = await other.get('/datasets/censo/edit');
  assert.equal(theirs.statusCode, 403);
  assert.equal(lead(theirs.body), 'Solo actuás por los organismos de los que sos miembro, y este conjunto de datos es de otro.');
  assert.equal(lead((await other.get('/datasets/censo/edit?lang=en')).body), 'You act only for the offices you are a member of, and this dataset belongs to another one.');
});

test('a refused upload on the resource form is a 4xx page in the visitor\'s language: ragged rows and a mixed encoding (the loader\'s row inside the sentence, with what to do), a missing or bad link', async () => {
  const client = await member();
  const before = (await editor.action.package_show({ id: 'censo' })) as { resources: unknown[] };
  const ragged = { filename: 'hogares.csv', data: Buffer.from('comuna,hogares\n1,1200\n2,800,extra\n3,950\n') };
  // A file valid UTF-8 for its first 300 KB, with a Latin-1 "é" after that: refused with its line.
  const rows = Array.from({ length: 16000 }, (_, i) => `${i + 1},Palermo ${String(i).padStart(8, '0')}`);
  const mixed = { filename: 'mixto.csv', data: Buffer.concat([Buffer.from(`n,barrio\n${rows.join('\n')}\n`), Buffer.from([0x31, 0x32, 0x30, 0x30, 0x31, 0x2c, 0x43, 0x61, 0x66, 0xe9, 0x0a])]) };
  assert.ok(mixed.data.length > 300 * 1024 && mixed.data.length < loadSettings.jobThresholdBytes);
  const expectations: Record<Lang, Array<[typeof ragged | null, Record<string, string>, RegExp]>> = {
    'es-AR': [
      [ragged, { name: 'Hogares' }, /^No se agregó el recurso: el archivo no se pudo cargar en el almacén de datos \(Row 3: .*ragged row\)\)\. Revisá que esa fila tenga las mismas columnas que el encabezado/],
      [mixed, { name: 'Mixto' }, /^No se agregó el recurso: el archivo no se pudo cargar en el almacén de datos \(Row \d+: .*(UTF-8|encoding).*\)\. Guardá el archivo en UTF-8/],
      [null, { name: 'Sin archivo' }, /^Subí un archivo o escribí el enlace http\(s\) al archivo\.$/],
      [null, { name: 'FTP', url: 'ftp://example.org/x.csv' }, /^El enlace debe empezar con http:\/\/ o https:\/\/\.$/],
    ],
    en: [
      [ragged, { name: 'Hogares' }, /^The resource was not added: the file could not be loaded into the DataStore \(Row 3: .*ragged row\)\)\. Check that this row has the same columns as the header/],
      [mixed, { name: 'Mixto' }, /^The resource was not added: the file could not be loaded into the DataStore \(Row \d+: .*(UTF-8|encoding).*\)\. Save the file as UTF-8/],
      [null, { name: 'Sin archivo' }, /^Upload a file or enter the http\(s\) link to the file\.$/],
      [null, { name: 'FTP', url: 'ftp://example.org/x.csv' }, /^The link must start with http:\/\/ or https:\/\/\.$/],
    ],
  };
  for (const lang of LANGS) {
    for (const [file, fields, message] of expectations[lang]) {
      const res = await postFile(client, inLang('/datasets/censo/resources', lang), { description: '', format: '', url: '', ...fields }, file ?? { filename: '', data: Buffer.alloc(0) });
      assert.equal(res.statusCode, 400, `${lang} ${fields.name}: ${lead(res.body)}`);
      assert.match(lead(res.body), message, lang);
    }
  }
  assert.equal(((await editor.action.package_show({ id: 'censo' })) as { resources: unknown[] }).resources.length, before.resources.length, 'no resource was added');
});

test('an upload past the size limit is a 413 page in the visitor\'s language that says the limit and what to do', async () => {
  const small = await createTestApp({ modules: [manifest], config: { uploadLimitBytes: 2048 } });
  try {
    const office = await createOffice(small.services, { slug: 'agencia', name: 'Agencia' });
    const user = await createUser(small.services, { roles: ['official'], officeIds: [office.id], officeAdminIds: [office.id] });
    const client = await new TestClient(small.app).signInAs(small.services, user.id);
    await client.get('/datasets/new');
    assert.equal((await client.post('/datasets/new', { title: 'Grande', name: 'grande', notes: 'x', owner_org: 'agencia', license_id: 'CC-BY-4.0', accrualPeriodicity: 'R/P1Y' })).statusCode, 303);
    await client.get('/datasets/grande');
    const big = { filename: 'grande.csv', data: Buffer.from(`n\n${'1\n'.repeat(2000)}`) };
    const es = await postFile(client, '/datasets/grande/resources', { name: 'Grande' }, big);
    assert.equal(es.statusCode, 413);
    assert.equal(lead(es.body), 'El archivo supera el límite de 2 KB, así que no se guardó. Subí un archivo más chico (por ejemplo, dividido por año) o publicalo como enlace.');
    const en = await postFile(client, '/datasets/grande/resources?lang=en', { name: 'Grande' }, big);
    assert.equal(en.statusCode, 413);
    assert.match(lead(en.body), /^The file is larger than the 2 KB limit, so it was not saved\./);
    assert.equal((await small.services.db.selectFrom('files').select('id').execute()).length, 0, 'nothing stored');
  } finally {
    await small.close();
  }
});

test('the preview says in the visitor\'s language why a filter value cannot filter its column; the dictionary names its types in the page\'s language', async () => {
  const fd = new FormData();
  fd.append('package_id', 'censo');
  fd.append('name', 'Población por comuna');
  fd.append('upload', new Blob(['comuna,poblacion,relevado\n1,205886,2022-05-18\n2,149607,2022-05-18\n']), 'comunas.csv');
  const r = (await editor.action.resource_create(fd)) as { id: string };
  const path = `/datasets/censo/resource/${r.id}`;
  const client = await member(path);
  const cases: Array<[string, Record<Lang, string>]> = [
    ['col=poblacion&val=muchos', { 'es-AR': '«muchos» no sirve para filtrar la columna «poblacion», que es de tipo Número entero (int8): escribí un número entero, por ejemplo 42.', en: '“muchos” cannot filter the column “poblacion”, whose type is Integer (int8): enter a whole number, e.g. 42.' }],
    ['col=relevado&val=18/05/2022', { 'es-AR': '«18/05/2022» no sirve para filtrar la columna «relevado», que es de tipo Fecha (date): escribí una fecha AAAA-MM-DD, por ejemplo 2024-03-31.', en: '“18/05/2022” cannot filter the column “relevado”, whose type is Date (date): enter a date YYYY-MM-DD, e.g. 2024-03-31.' }],
    ['col=_id&val=uno', { 'es-AR': '«uno» no sirve para filtrar la columna «_id», que es de tipo Número entero (int8)', en: '“uno” cannot filter the column “_id”, whose type is Integer (int8)' }],
  ];
  for (const [q, text] of cases) {
    for (const lang of LANGS) {
      const res = await client.get(inLang(`${path}?${q}`, lang));
      assert.equal(res.statusCode, 200, q);
      assert.ok(res.body.includes(text[lang]), `${lang} ${q}`);
      assert.doesNotMatch(res.body, /is not an integer|is not a date/);
    }
  }
  // The dictionary (shown and editable) names each type in the page's language, with CKAN's name.
  const es = await client.get(inLang(path, 'es-AR'));
  assert.match(es.body, /<th scope="row">poblacion<\/th><td>Número entero \(int8\)<\/td>/);
  assert.match(es.body, /<option value="int" selected>Número entero \(int8\)<\/option>/);
  for (const label of ['Texto (text)', 'Número decimal (numeric)', 'Fecha (date)', 'Fecha y hora (timestamp)', 'Verdadero o falso (bool)']) assert.ok(es.body.includes(`>${label}</option>`), label);
  const en = await client.get(inLang(path, 'en'));
  assert.match(en.body, /<th scope="row">relevado<\/th><td>Date \(date\)<\/td>/);
  for (const label of ['Text (text)', 'Integer (int8)', 'Decimal number (numeric)', 'Date and time (timestamp)', 'True or false (bool)']) assert.ok(en.body.includes(`>${label}</option>`), label);
  // A type the data refuses: the loader's row inside the sentence, then what to do.
  const reload = await client.post(inLang(`${path}/dictionary`, 'es-AR'), { type_2: 'bool' });
  assert.equal(reload.statusCode, 400);
  assert.match(lead(reload.body), /^La tabla no se recargó con los tipos elegidos y el diccionario quedó como estaba: Row 2: .*\. Elegí un tipo que admita ese valor \(por ejemplo, Texto\) o corregí el archivo y subilo como una nueva versión\.$/);
  const reloadEn = await client.post(inLang(`${path}/dictionary`, 'en'), { type_2: 'bool' });
  assert.match(lead(reloadEn.body), /^The table was not reloaded with the chosen types and the dictionary was left as it was: Row 2: .*\. Choose a type that accepts that value \(Text, for instance\) or fix the file and upload it as a new version\.$/);
});

test('a failed DataStore load job: its note on the resource page is a localized sentence around the loader\'s row, with what to do', async () => {
  const threshold = loadSettings.jobThresholdBytes;
  loadSettings.jobThresholdBytes = 10;
  let id: string;
  try {
    const fd = new FormData();
    fd.append('package_id', 'censo');
    fd.append('name', 'Viviendas');
    fd.append('upload', new Blob(['comuna,viviendas\n1,100\n2,200,300\n']), 'viviendas.csv');
    id = ((await editor.action.resource_create(fd)) as { id: string }).id;
  } finally {
    loadSettings.jobThresholdBytes = threshold;
  }
  await t.services.jobs.drain();
  const job = await t.services.db.selectFrom('jobs').select(['id', 'status', 'error']).where('kind', '=', 'open-data.datastore-load').orderBy('id', 'desc').executeTakeFirstOrThrow();
  assert.equal(job.status, 'failed');
  const client = await member();
  const es = await client.get(inLang(`/datasets/censo/resource/${id}`, 'es-AR'));
  assert.ok(es.body.includes(`La última carga en el almacén de datos falló (${job.error}) y la tabla sigue con los datos anteriores. Corregí el archivo y subilo de nuevo como una nueva versión del recurso. <a href="/jobs/${job.id}">ver el trabajo n.º ${job.id}</a>`), 'es');
  assert.match(job.error!, /^Row 3: /);
  const en = await client.get(inLang(`/datasets/censo/resource/${id}`, 'en'));
  assert.ok(en.body.includes(`The last DataStore load failed (${job.error}) and the table still holds the previous data. Fix the file and upload it again as a new version of the resource.`), 'en');
  // The dataset page shows it to its editors too; visitors do not see it.
  assert.ok((await client.get(`/datasets/censo`)).body.includes('The last DataStore load failed'));
  assert.doesNotMatch((await t.app.inject(`/datasets/censo/resource/${id}`)).body, /falló/);
});

test('status changes refused from the pages say why in the visitor\'s language: not your office, only administrators publish, no such dataset', async () => {
  await editor.action.package_create({ name: 'borrador', title: 'Borrador', owner_org: officeSlug, private: true });
  const other = await new TestClient(t.app).signInAs(t.services, strangerId);
  await other.get('/datasets/publish');
  const editorOnly = await new TestClient(t.app).signInAs(t.services, juniorId);
  await editorOnly.get('/datasets/publish');
  const cases: Array<[TestClient, string, string, number, Record<Lang, string>]> = [
    [other, 'borrador', 'review', 403, { 'es-AR': 'Solo actuás por los organismos de los que sos miembro, y este conjunto de datos es de otro.', en: 'You act only for the offices you are a member of, and this dataset belongs to another one.' }],
    [editorOnly, 'borrador', 'published', 403, { 'es-AR': 'Solo quienes administran el organismo publican o despublican sus conjuntos de datos.', en: "Only the office's administrators publish or unpublish its datasets." }],
    [editorOnly, 'no-existe', 'review', 404, { 'es-AR': 'Ese conjunto de datos no existe o fue eliminado.', en: 'That dataset does not exist or was deleted.' }],
    [editorOnly, 'borrador', 'archivado', 400, { 'es-AR': 'Ese estado no existe.', en: 'That status does not exist.' }],
  ];
  for (const [client, name, status, code, text] of cases) {
    for (const lang of LANGS) {
      const res = await client.post(inLang(`/datasets/${name}/status`, lang), { status });
      assert.equal(res.statusCode, code, `${name} → ${status}`);
      assert.equal(lead(res.body), text[lang], `${lang}: ${name} → ${status}`);
    }
  }
  assert.equal((await odDb(t.services).selectFrom('od_datasets').select('status').where('name', '=', 'borrador').executeTakeFirstOrThrow()).status, 'draft');
  // The junior editor sends it to review: allowed.
  assert.equal((await editorOnly.post('/datasets/borrador/status', { status: 'review' })).statusCode, 303);
});

test('the themes page says in the administrator\'s language that a theme does not exist or which one is missing', async () => {
  const admin = await createUser(t.services, { roles: ['admin'] });
  const client = await new TestClient(t.app).signInAs(t.services, admin.id);
  await client.get('/datasets/themes');
  const cases: Array<[Record<string, string>, number, Record<Lang, string>]> = [
    [{ op: 'delete', id: 'no-such-theme' }, 404, { 'es-AR': 'No existe ese sector.', en: 'There is no such sector.' }],
    [{ op: 'delete' }, 400, { 'es-AR': 'Falta indicar qué sector cambiar: volvé a la lista y usá el botón del sector.', en: 'Which sector to change is missing: go back to the list and use the sector’s button.' }],
    [{ id: 'no-such-theme', name: 'otro', title: 'Otro' }, 404, { 'es-AR': 'No existe ese sector.', en: 'There is no such sector.' }],
  ];
  for (const [body, code, text] of cases) {
    for (const lang of LANGS) {
      const res = await client.post(inLang('/datasets/themes', lang), body);
      assert.equal(res.statusCode, code, JSON.stringify(body));
      assert.equal(lead(res.body), text[lang], `${lang} ${JSON.stringify(body)}`);
    }
  }
});

test('the budget explorer: amounts loaded as text give a clear note in the visitor\'s language, not a 500; numbers give the figures', async () => {
  await editor.action.package_create({ name: 'presupuesto-ejecucion', title: 'Ejecución presupuestaria', owner_org: officeSlug, private: false });
  const csv = (rows: string[]) => Buffer.from(['jurisdiccion,finalidad,vigente,devengado', ...rows].join('\n'));
  const fd = new FormData();
  fd.append('package_id', 'presupuesto-ejecucion');
  fd.append('name', 'Ejecución 2024');
  fd.append('upload', new Blob([new Uint8Array(csv(['Salud,Servicios sociales,$ 1.000.000,$ 800.000', 'Educación,Servicios sociales,$ 2.000.000,$ 1.500.000']))]), 'ejecucion.csv');
  const r = (await editor.action.resource_create(fd)) as { id: string };
  const es = await t.app.inject('/datasets/budget');
  assert.equal(es.statusCode, 200);
  assert.ok(es.body.includes('No podemos sumar el presupuesto: en su recurso, las columnas de importes (vigente, devengado) están cargadas como texto y no como números.'));
  assert.match(es.body, /<a href="\/datasets\/presupuesto-ejecucion">Ejecución presupuestaria<\/a>/);
  const en = await t.app.inject('/datasets/budget?lang=en');
  assert.equal(en.statusCode, 200);
  assert.ok(en.body.includes('We cannot add up the budget: in its resource, the amount columns (vigente, devengado) are loaded as text, not as numbers.'));
  // Only one of them text: named alone.
  const fd2 = new FormData();
  fd2.append('id', r.id);
  fd2.append('upload', new Blob([new Uint8Array(csv(['Salud,Servicios sociales,1000000,s/d', 'Educación,Servicios sociales,2000000,1500000']))]), 'ejecucion.csv');
  await editor.action.resource_update(fd2);
  assert.ok((await t.app.inject('/datasets/budget')).body.includes('las columnas de importes (devengado) están cargadas como texto'));
  // Numbers: the explorer's figures.
  const fd3 = new FormData();
  fd3.append('id', r.id);
  fd3.append('upload', new Blob([new Uint8Array(csv(['Salud,Servicios sociales,1000000,800000', 'Educación,Servicios sociales,2000000,1500000']))]), 'ejecucion.csv');
  await editor.action.resource_update(fd3);
  const figures = await t.app.inject('/datasets/budget');
  assert.equal(figures.statusCode, 200);
  assert.doesNotMatch(figures.body, /No podemos sumar/);
  assert.match(figures.body, /<th scope="row">Educación<\/th><td>\$\s?2\.000\.000<\/td><td>\$\s?1\.500\.000<\/td><td>75\s?%<\/td>/);
});

test('a NUL in an uploaded file\'s name is a 400 page, and nothing is stored; a big table\'s word search before its index says so in the visitor\'s language', async () => {
  const client = await member();
  const files = async () => Number((await t.services.db.selectFrom('files').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  const before = await files();
  const res = await postFile(client, '/datasets/censo/resources', { name: 'Con NUL', format: 'CSV' }, { filename: 'a\u0000b.csv', data: Buffer.from('a,b\n1,2\n') });
  assert.equal(res.statusCode, 400);
  assert.equal(await files(), before);
  const { fullTextSettings } = await import('./datastore');
  const inline = fullTextSettings.inlineRows;
  const scan = fullTextSettings.scanRows;
  fullTextSettings.inlineRows = 1;
  fullTextSettings.scanRows = 1;
  try {
    const r = (await editor.action.resource_create(
      (() => {
        const fd = new FormData();
        fd.append('package_id', 'censo');
        fd.append('name', 'Radios');
        fd.append('upload', new Blob([new Uint8Array(Buffer.from('radio,poblacion\nA,10\nB,20\n'))]), 'radios.csv');
        return fd;
      })(),
    )) as { id: string };
    for (const lang of LANGS) {
      const page = await client.get(inLang(`/datasets/censo/resource/${r.id}?q=radio`, lang));
      assert.equal(page.statusCode, 200);
      assert.match(page.body, lang === 'en' ? /Word search on this table is still being prepared/ : /La búsqueda por palabras en esta tabla todavía se está preparando/);
      assert.doesNotMatch(page.body, /full-text search on this table/);
    }
  } finally {
    fullTextSettings.inlineRows = inline;
    fullTextSettings.scanRows = scan;
  }
});
