import type { PublishedDataset } from '../manifest';

/** Datasets core itself publishes through the open-data registry (communes and neighbourhoods). */
export const coreDatasets: PublishedDataset[] = [];
