import type { ModuleManifest } from '../core/manifest';
import { manifest as openData } from './open-data/manifest';
import { manifest as budgeting } from './budgeting/manifest';
import { manifest as works } from './works/manifest';
import { manifest as requests } from './requests/manifest';
import { manifest as dialogue } from './dialogue/manifest';
import { manifest as declarations } from './declarations/manifest';
import { manifest as actionPlans } from './action-plans/manifest';
import { manifest as hub } from './hub/manifest';

/** The modules this Cabildo runs, in the order the home page and navigation show them. */
export const modules: ModuleManifest[] = [openData, budgeting, works, requests, dialogue, declarations, actionPlans, hub];
