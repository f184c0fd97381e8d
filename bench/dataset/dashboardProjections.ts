import { activityFeed } from '../../projections/activityFeed.ts'
import { activityStatistics } from '../../projections/activityStatistics.ts'
import { analyticsOverview } from '../../projections/analyticsOverview.ts'
import { campaignBoard } from '../../projections/campaignBoard.ts'
import { performanceOverview } from '../../projections/performanceOverview.ts'

/** The projections the dashboard reads: activity feed and statistics, performance and analytics overviews, the campaign board. */
export const dashboardProjections = [activityFeed, activityStatistics, performanceOverview, analyticsOverview, campaignBoard]
