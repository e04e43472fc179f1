import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import iconv from 'iconv-lite';
import { readBaObrasCsv, FileError, stableKey } from './csv';
import { parseBudgetRef, checkBudgetRefForm } from './budgetref';
import { parseAmount, parseCommunes, parseCoordinate, parseCoordinates, parseDate, parsePercent, parseStage, parseType, parseProcurementMethod, parseCuits, repairText, ParseError } from './normalise';
import { flagsFor, checkProgressUpdate, concentratedContractors, checkAmendment, parseDecimal } from './flags';

const SHARED = path.resolve('../shared/data/ba-obras');

test('the real 2024 snapshot reads the same from Latin-1 and UTF-8, with every rejection explained', () => {
  const latin = readBaObrasCsv(fs.readFileSync(path.join(SHARED, 'ba-obras-observatorio-2024.latin1.csv')));
  const utf8 = readBaObrasCsv(fs.readFileSync(path.join(SHARED, 'ba-obras-observatorio-2024.utf8.csv')));
  assert.equal(latin.format.delimiter, ';');
  assert.match(latin.format.encoding, /1252|8859/i);
  assert.equal(utf8.format.encoding, 'UTF-8');
  assert.equal(latin.format.rows, 1525);
  assert.equal(latin.projects.length + latin.rejected.length, 1525);
  assert.deepEqual(latin.projects, utf8.projects);
  assert.ok(latin.projects.length > 1500, `read ${latin.projects.length}`);
  for (const r of latin.rejected) {
    assert.ok(r.line > 1 && r.reason.length > 5, JSON.stringify(r));
  }
  // A row whose amount has a note in it is reported with its line, not silently read.
  assert.ok(latin.rejected.some((r) => r.ref === '1156' && /amount/.test(r.reason)));
  const stages = new Set(latin.projects.map((p) => p.stage));
  assert.deepEqual([...stages].sort(), ['cancelled', 'finished', 'in_progress', 'paused', 'planned', 'tendering']);
  // Mojibake repaired: no soft hyphens after í and no "í¼".
  assert.ok(!latin.projects.some((p) => /í\u00ad|í¼/.test(p.officeName + p.name + p.description + (p.programme ?? ''))));
  assert.ok(latin.projects.some((p) => p.officeName === 'Secretaría de Transporte y Obras Públicas'));
  const first = latin.projects.find((p) => p.externalId === '1')!;
  assert.equal(first.contractAmount, 67065700);
  assert.equal(first.lat, -34.56715312);
  assert.deepEqual(first.communes, [12]);
  assert.equal(first.programme, 'Plan 54 escuelas');
  assert.equal(first.type, 'school');
  assert.equal(first.startDate, '2013-12-01');
  assert.deepEqual(first.contractors, [{ name: 'Criba S.A.', cuit: '30-50545443-6' }]);
  assert.equal(first.photos.length, 2);
  // Commune lists.
  assert.ok(latin.projects.some((p) => p.communes.join() === '1,4'));
});

test('another vintage: no id column, UTF-8 with commas, "$ 67.065.700,00" and d/m/yyyy dates', () => {
  const csv = [
    'entorno,nombre,etapa,tipo,area_responsable,monto_contrato,comuna,barrio,direccion,lat,lng,fecha_inicio,fecha_fin_inicial,porcentaje_avance',
    '"Plan 54 escuelas","Escuela N° 24 ""Morazán""",En Ejecución ,Escuelas,Ministerio de Educación,"$ 67.065.700,00",4 y 1,Boedo,Av. Boedo 100,"-34,61","-58,41",1/12/2013,31/5/2016,45',
    'Parques,Plaza Sin Fecha,Finalizado,Espacio Publico,Ministerio de Espacio Público,"53,160,000.00",1 a 15,,Calle 1,,,32/13/2020,,',
    'Parques,Plaza Lejana,Finalizado,Espacio Publico,Ministerio de Espacio Público,1000,2,,Calle 2,,,,,120',
  ].join('\n');
  const r = readBaObrasCsv(Buffer.from(csv, 'utf8'));
  assert.equal(r.format.delimiter, ',');
  assert.equal(r.projects.length, 1);
  const p = r.projects[0];
  assert.equal(p.externalId, stableKey('Escuela N° 24 "Morazán"', 'Plan 54 escuelas', 'Av. Boedo 100'));
  assert.equal(p.contractAmount, 67065700);
  assert.equal(p.startDate, '2013-12-01');
  assert.equal(p.plannedEnd, '2016-05-31');
  assert.equal(p.stage, 'in_progress');
  assert.deepEqual(p.communes, [1, 4]);
  assert.equal(p.progress, 45);
  assert.deepEqual(
    r.rejected.map((x) => [x.line, x.reason]),
    [
      [3, 'unreadable date "32/13/2020"'],
      [4, 'progress 120 % is outside 0–100'],
    ],
  );
  // Latin-1 bytes of the same file read the same.
  const again = readBaObrasCsv(iconv.encode(csv, 'latin1'));
  assert.deepEqual(again.projects, r.projects);
});

test('a file with the wrong columns is refused as a whole, naming what is missing', () => {
  assert.throws(() => readBaObrasCsv(Buffer.from('a;b;c\n1;2;3\n')), (e: Error) => e instanceof FileError && /nombre, etapa/.test(e.message));
  assert.throws(() => readBaObrasCsv(Buffer.from('')), FileError);
});

test('normalisers: stages, types, communes, amounts, dates, coordinates, procedures', () => {
  for (const s of ['Finalizada', 'Finalizado', 'finalizada', 'FInalizada', 'Proyecto finalizado']) assert.equal(parseStage(s), 'finished');
  for (const s of ['En ejecución', 'En Ejecución ', 'En obra', 'En curso', 'Iniciada']) assert.equal(parseStage(s), 'in_progress');
  for (const s of ['Desestimada', 'Rescindida', 'Finalizada/desestimada']) assert.equal(parseStage(s), 'cancelled');
  assert.equal(parseStage('Neutralizada'), 'paused');
  assert.equal(parseStage('En licitación'), 'tendering');
  assert.equal(parseStage('Adjudicada'), 'tendering');
  assert.equal(parseStage('En proyecto'), 'planned');
  assert.equal(parseStage(''), undefined);
  assert.throws(() => parseStage('Quién sabe'), ParseError);
  assert.equal(parseType('Hidráulica E Infraestructura'), 'hydraulic');
  assert.equal(parseType('Espacio Publico'), 'public_space');
  assert.equal(parseType('Vivienda Nueva'), 'housing');
  assert.equal(parseType(''), 'other');
  assert.deepEqual(parseCommunes('14, 2 , 1 '), [1, 2, 14]);
  assert.deepEqual(parseCommunes('7, 15 y 14'), [7, 14, 15]);
  assert.equal(parseCommunes('1 a 15').length, 15);
  assert.throws(() => parseCommunes('16'), ParseError);
  assert.equal(parseAmount('\u00a06595600'), 6595600);
  assert.equal(parseAmount('$14.397.644,93'), 14397644.93);
  assert.equal(parseAmount('$28,470,000'), 28470000);
  assert.equal(parseAmount('21.883.237'), 21883237);
  assert.equal(parseAmount(''), undefined);
  assert.throws(() => parseAmount('doce millones'), ParseError);
  assert.equal(parseDate('10/21'), '2021-10-01');
  assert.equal(parseDate('A/D'), undefined);
  assert.throws(() => parseDate('2021-02-30'), ParseError);
  assert.equal(parseCoordinate('-34.578.254', 'lat'), -34.578254);
  assert.equal(parseCoordinate('-584.699.185', 'lng'), -58.4699185);
  assert.equal(parseCoordinate('\u00a0-58,520904', 'lng'), -58.520904);
  assert.equal(parsePercent('75,5'), 75.5);
  assert.equal(parseProcurementMethod('Licitacion Pí¹blica'), 'open');
  assert.equal(parseProcurementMethod('Contratación Directa'), 'direct');
  assert.equal(parseProcurementMethod('Licitación Privada'), 'selective');
  assert.deepEqual(parseCuits('30711331847 \n30-71209799-6 '), ['30-71133184-7', '30-71209799-6']);
  assert.equal(repairText('Secretarí\u00ada de Obras'), 'Secretaría de Obras');
  assert.equal(repairText('desagí¼es'), 'desagües');
  assert.equal(repairText('InformaciÃ³n'), 'Información');
});

test('red flags and progress rules', () => {
  const today = new Date('2025-06-01T00:00:00Z');
  const base = { stage: 'in_progress', progress: 40, contractAmount: 100, extraAmount: 0, currentPlannedEnd: '2026-01-01', lastProgressAt: new Date('2025-05-01') as Date | null, startDate: '2024-01-01', bidders: 3, contractorCuit: '30-1' };
  assert.deepEqual(flagsFor(base, today, new Set()), []);
  assert.deepEqual(flagsFor({ ...base, extraAmount: 21 }, today, new Set()), ['cost_overrun']);
  assert.deepEqual(flagsFor({ ...base, extraAmount: 20 }, today, new Set()), []);
  assert.deepEqual(flagsFor({ ...base, currentPlannedEnd: '2025-01-01' }, today, new Set()), ['delay']);
  assert.deepEqual(flagsFor({ ...base, currentPlannedEnd: '2025-01-01', stage: 'finished', progress: 100 }, today, new Set()), []);
  assert.deepEqual(flagsFor({ ...base, lastProgressAt: new Date('2024-11-01') }, today, new Set()), ['stalled']);
  assert.deepEqual(flagsFor({ ...base, bidders: 1 }, today, new Set(['30-1'])), ['single_bidder', 'concentration']);
  // No progress report yet (an imported work): counted from the start date.
  assert.deepEqual(flagsFor({ ...base, lastProgressAt: null }, today, new Set()), ['stalled']);
  assert.deepEqual(flagsFor({ ...base, lastProgressAt: null, startDate: '2025-03-01' }, today, new Set()), []);
  assert.deepEqual(flagsFor({ ...base, lastProgressAt: null, startDate: null }, today, new Set()), []);
  assert.deepEqual([...concentratedContractors([{ cuit: 'a', amount: 95 }, { cuit: 'b', amount: 5 }])], ['a']);
  assert.equal(checkProgressUpdate(50, 101, ''), 'works.progress.error.range');
  assert.equal(checkProgressUpdate(50, 40, ''), 'works.progress.error.backwards');
  assert.equal(checkProgressUpdate(50, 40, 'new measurement'), null);
  assert.equal(checkProgressUpdate(50, NaN, ''), 'works.progress.error.number');
  assert.equal(checkProgressUpdate(null, 10, ''), null);
});

test('curly quotes mangled by Windows-1252 are repaired', () => {
  assert.equal(repairText('El \u00e2\u00c2\u20ac\u00c2\u0153Paseo del Bajo"'), 'El “Paseo del Bajo"');
  assert.equal(repairText('941\u00e2\u00c2\u0080\u00c2\u0093MGEYA'), '941–MGEYA');
});

test('cells with several points become a MultiPoint (real snapshot rows), and degrees-minutes-seconds are read', () => {
  assert.deepEqual(parseCoordinates('-34.650675\n-34.666304', 'lat'), [-34.650675, -34.666304]);
  assert.deepEqual(parseCoordinates('-58.457814\n-58.490534\n', 'lng'), [-58.457814, -58.490534]);
  assert.deepEqual(parseCoordinates("(')-34.633047 / -34.598934 / -34.602105", 'lat'), [-34.633047, -34.598934, -34.602105]);
  assert.deepEqual(parseCoordinates('-34633154\n-34.582082', 'lat'), [-34.633154, -34.582082]);
  assert.deepEqual(parseCoordinates('34°36?04?S', 'lat'), [-34.6011111]);
  assert.deepEqual(parseCoordinates('_58,39932° o 58° 23\' 58" oeste', 'lng'), [-58.39932]);
  assert.deepEqual(parseCoordinates('', 'lat'), []);
  assert.throws(() => parseCoordinates('-3,45832E+15', 'lat'), ParseError);

  const latin = readBaObrasCsv(fs.readFileSync(path.join(SHARED, 'ba-obras-observatorio-2024.latin1.csv')));
  const byId = (id: string) => latin.projects.find((p) => p.externalId === id)!;
  // Row 1441: three sites of one work, written "(')lat1 / lat2 / lat3" in lat and the same in lng.
  assert.deepEqual(byId('1441').geometry, { type: 'MultiPoint', coordinates: [[-58.449914, -34.633047], [-58.483364, -34.598934], [-58.436043, -34.602105]] });
  assert.equal(byId('1441').lat, -34.633047);
  assert.equal(byId('1441').sites, 3);
  // Row 1389: one point per line, the first without its decimal point.
  assert.deepEqual(byId('1389').geometry, { type: 'MultiPoint', coordinates: [[-58.450375, -34.633154], [-58.425955, -34.582082]] });
  assert.equal(byId('1440').geometry?.type, 'MultiPoint');
  // A single point stays a point.
  assert.equal(byId('1').geometry, null);
  // Different counts of latitudes and longitudes cannot be paired: the row is rejected, saying why.
  const odd = readBaObrasCsv(Buffer.from('id;nombre;etapa;lat;lng\nM1;Obra;En obra;"-34.61\n-34.62";-58.41\n', 'utf8'));
  assert.equal(odd.projects.length, 0);
  assert.match(odd.rejected[0].reason, /2 latitudes but 1 longitudes/);
});

test('BA Elige links: site paths and absolute URLs are read, anything else refused', () => {
  assert.deepEqual(parseBudgetRef('/budgets/3/proposals/12', 'Plaza nueva'), { id: '3/12', title: 'Plaza nueva', url: '/budgets/3/proposals/12' });
  assert.deepEqual(parseBudgetRef('https://baelige.buenosaires.gob.ar/proyectos/1234', null), { id: '1234', title: null, url: 'https://baelige.buenosaires.gob.ar/proyectos/1234' });
  assert.equal(parseBudgetRef('javascript:alert(1)', 'x'), undefined);
  assert.equal(parseBudgetRef('/admin', 'x'), undefined);
  assert.deepEqual(checkBudgetRefForm({ pb_url: '', pb_title: '' }), { ref: null });
  assert.equal(checkBudgetRefForm({ pb_url: 'ftp://x.org/1', pb_title: 'x' }), 'works.pb.error.url');
  assert.equal(checkBudgetRefForm({ pb_url: '/budgets/1', pb_title: ' ' }), 'works.pb.error.title');
  const csv = 'id;nombre;etapa;ba_elige;ba_elige_url;ba_elige_titulo\nP1;Plaza;En obra;SI;/budgets/2/proposals/5;Más verde\nP2;Escuela;En obra;NO;;\nP3;Calle;En obra;SI;nada;x\n';
  const r = readBaObrasCsv(Buffer.from(csv, 'utf8'));
  assert.deepEqual(r.projects[0].pbRef, { id: '2/5', title: 'Más verde', url: '/budgets/2/proposals/5' });
  assert.equal(r.projects[0].participatory, true);
  // No link: the key is absent, so the record's hash (and a link the office set) stay as they were.
  assert.equal('pbRef' in r.projects[1], false);
  assert.match(r.rejected[0].reason, /unreadable BA Elige link/);
});

test('amendment numbers: es-AR and plain decimals read right, ambiguous thousands refused', () => {
  assert.equal(parseDecimal('2.5'), 2.5);
  assert.equal(parseDecimal('2,5'), 2.5);
  assert.equal(parseDecimal('1.000,50'), 1000.5);
  assert.equal(parseDecimal('1,000.50'), 1000.5);
  assert.equal(parseDecimal('1.000.000'), 1000000);
  assert.equal(parseDecimal('$ 67.065.700,00'), 67065700);
  assert.equal(parseDecimal('1.500'), 'ambiguous');
  assert.ok(Number.isNaN(parseDecimal('12.34.5')));
  assert.ok(Number.isNaN(parseDecimal('-3')));
  const ok = checkAmendment({ date: '2024-05-01', extra_amount: '1.000,50', extra_months: '2.5', reason: 'r' });
  assert.deepEqual(ok, { date: '2024-05-01', extraAmount: 1000.5, extraMonths: 2.5, reason: 'r' });
  assert.deepEqual(checkAmendment({ date: '2024-05-01', extra_amount: '1,000.50', extra_months: '', reason: 'r' }), { date: '2024-05-01', extraAmount: 1000.5, extraMonths: 0, reason: 'r' });
  assert.equal(checkAmendment({ date: '2024-05-01', extra_amount: '1.500', reason: 'r' }), 'works.amendment.error.ambiguous');
});

test('a finished work has an actual end only when the source gives one', () => {
  const r = readBaObrasCsv(Buffer.from('id;nombre;etapa;fecha_fin_inicial;fecha_fin_actual\nF1;Plaza;Finalizada;1/3/2020;1/6/2020\n', 'utf8'));
  assert.equal(r.projects[0].actualEnd, null);
  assert.equal(r.projects[0].currentPlannedEnd, '2020-06-01');
  const withDate = readBaObrasCsv(Buffer.from('id;nombre;etapa;fecha_fin_actual;fecha_fin_real\nF2;Plaza;Finalizada;1/6/2020;15/7/2020\n', 'utf8'));
  assert.equal(withDate.projects[0].actualEnd, '2020-07-15');
});

test('warnings: values of kept rows that cannot be read are reported; placeholders and scheme-less photo addresses are not', () => {
  const r = readBaObrasCsv(fs.readFileSync(path.join(SHARED, 'ba-obras-observatorio-2024.latin1.csv')));
  const by = new Map<string, number>();
  for (const w of r.warnings ?? []) by.set(w.code!, (by.get(w.code!) ?? 0) + 1);
  assert.deepEqual(Object.fromEntries(by), { procedure: 35, url: 2, year: 2, workers: 3 });
  assert.ok(r.warnings!.every((w) => !r.rejected.some((x) => x.line === w.line)), 'a rejected row is not warned about');
  const w711 = r.warnings!.find((w) => w.line === 711 && w.code === 'workers')!;
  assert.equal(w711.params!.value, 'http://www.buenosaires.gob.ar/corporacionsur');
  assert.ok(r.warnings!.some((w) => w.code === 'year' && w.params!.value === '512-0730-OC17'));
  // "cdn2.buenosaires.gob.ar/baobras/…" (no scheme) is an https address; "LICICITACIÓN PÚBLICA" (sic) an open procedure.
  assert.ok(r.projects.some((p) => p.photos.some((ph) => ph.url.startsWith('https://cdn2.buenosaires.gob.ar/baobras/corporacionsur/'))));
  assert.equal(parseProcurementMethod('LICICITACIÓN PÚBLICA'), 'open');
  const small = readBaObrasCsv(Buffer.from('id;nombre;etapa;mano_obra;licitacion_anio;cuit_contratista;imagen_1\nA;Obra;En obra;-;-;s/d;-\nB;Obra 2;En obra;veinte;;sin datos;foto.jpg\n'));
  assert.deepEqual(small.warnings!.map((w) => [w.line, w.ref, w.code]), [[3, 'B', 'workers'], [3, 'B', 'cuit'], [3, 'B', 'url']]);
  assert.equal(small.projects.length, 2);
});
