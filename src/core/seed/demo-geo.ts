import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the shipped demo data lives, whatever the working directory of the process. */
export const demoDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../data/demo');

/**
 * The source writes barrios in upper case and mostly without accents; residents read them
 * with their accents and the names the city itself uses (see data/demo/SOURCE.md).
 */
const PROPER_NAMES: Record<string, string> = {
  AGRONOMIA: 'Agronomía',
  BOCA: 'La Boca',
  CONSTITUCION: 'Constitución',
  'NUÑEZ': 'Núñez',
  PATERNAL: 'La Paternal',
  'SAN CRISTOBAL': 'San Cristóbal',
  'SAN NICOLAS': 'San Nicolás',
  'VELEZ SARSFIELD': 'Vélez Sársfield',
  'VILLA DEL PARQUE': 'Villa del Parque',
  'VILLA GRAL. MITRE': 'Villa General Mitre',
  'VILLA ORTUZAR': 'Villa Ortúzar',
  'VILLA PUEYRREDON': 'Villa Pueyrredón',
};

export function properName(sourceName: string): string {
  const key = sourceName.trim().replace(/\s+/g, ' ').toUpperCase();
  return PROPER_NAMES[key] ?? key.toLowerCase().replace(/(^|[\s.-])(\p{L})/gu, (_m, sep: string, ch: string) => sep + ch.toUpperCase());
}

export function slugify(name: string): string {
  return name
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

export interface DemoCommune {
  id: number;
  name: string;
  population: number;
  area_m2: number;
  geometry: GeoJSON.Polygon | GeoJSON.MultiPolygon;
}

export interface DemoNeighbourhood {
  slug: string;
  name: string;
  commune_id: number;
  population: number;
  area_m2: number;
  geometry: GeoJSON.Polygon | GeoJSON.MultiPolygon;
}

/** Simple CSV of the shipped files: a header row, comma-separated, optional double quotes, no embedded commas. */
function readCsv(file: string): Record<string, string>[] {
  const [header, ...lines] = fs.readFileSync(file, 'utf8').split(/\r?\n/).filter((l) => l.trim());
  const cols = header.split(',').map((c) => c.replace(/"/g, '').trim());
  return lines.map((l) => {
    const cells = l.split(',').map((c) => c.replace(/"/g, '').trim());
    return Object.fromEntries(cols.map((c, i) => [c, cells[i] ?? '']));
  });
}

function readGeoJson(file: string): GeoJSON.FeatureCollection<GeoJSON.Polygon | GeoJSON.MultiPolygon> {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/** The communes and barrios of the demo city, normalised (see the quirks in data/demo/SOURCE.md). */
export function loadDemoGeography(dir = path.join(demoDir, 'geo')): { communes: DemoCommune[]; neighbourhoods: DemoNeighbourhood[] } {
  const communePopulation = new Map(readCsv(path.join(dir, 'gcba_pob_comunas_17.csv')).map((r) => [Number(r.COMUNA), Number(r.POBLACION)]));
  const barrioPopulation = new Map(readCsv(path.join(dir, 'caba_pob_barrios_2010.csv')).map((r) => [r.BARRIO.toUpperCase(), Number(r.POBLACION)]));

  const communes = readGeoJson(path.join(dir, 'caba_comunas.geojson'))
    .features.map((f): DemoCommune => {
      const id = Math.round(Number(f.properties!.comunas));
      return {
        id,
        name: `Comuna ${id}`,
        population: communePopulation.get(id) ?? 0,
        area_m2: Number(f.properties!.area) || 0,
        geometry: f.geometry,
      };
    })
    .sort((a, b) => a.id - b.id);

  const neighbourhoods = readGeoJson(path.join(dir, 'caba_barrios.geojson'))
    .features.map((f): DemoNeighbourhood => {
      const source = String(f.properties!.BARRIO).trim();
      const name = properName(source);
      return {
        slug: slugify(name),
        name,
        commune_id: Math.round(Number(f.properties!.COMUNA)),
        population: barrioPopulation.get(source.toUpperCase()) ?? 0,
        area_m2: Number(f.properties!.AREA) || 0,
        geometry: f.geometry,
      };
    })
    .sort((a, b) => a.name.localeCompare(b.name, 'es'));

  for (const c of communes) if (!(c.id >= 1 && c.id <= 15)) throw new Error(`Demo data: unexpected commune ${c.id}`);
  for (const n of neighbourhoods) if (!communes.some((c) => c.id === n.commune_id)) throw new Error(`Demo data: barrio ${n.name} has no commune`);
  return { communes, neighbourhoods };
}
