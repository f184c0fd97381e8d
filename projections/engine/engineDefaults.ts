/** events per read and per transaction of a projection runner, unless the engine is given another size */
export const DEFAULT_BATCH_SIZE = 500
