/** @odoo-module **/
// Part of l10n_tr_iys. See LICENSE file for full copyright and licensing details.
import { Component, onWillStart, onWillUnmount, useEffect, useRef, useState } from "@odoo/owl";
import { loadBundle } from "@web/core/assets";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { formatInteger } from "@web/views/fields/formatters";

const LEVEL_CLASSES = {
    success: "text-success",
    info: "text-info",
    warning: "text-warning",
    danger: "text-danger",
    muted: "text-muted",
};
const ONAY_COLORS = ["#28a745", "#17a2b8", "#4f8fd6"];
const RET_COLORS = ["#dc3545", "#fd7e14", "#a33a6b"];

/**
 * Movements per day, as a stacked bar chart (ONAY and RET side by side). Chart.js is loaded the
 * way Odoo's own graph view and gauge field load it (the web.chartjs_lib bundle). A bar opens the
 * movements it counts.
 */
export class IysPanelChart extends Component {
    static template = "l10n_tr_iys.PanelChart";
    static props = { chart: Object, onOpen: Function };

    setup() {
        this.canvasRef = useRef("canvas");
        this.state = useState({ view: "channel" });
        this.chart = null;
        onWillStart(() => loadBundle("web.chartjs_lib"));
        useEffect(
            () => {
                this.renderChart();
            },
            () => [this.props.chart, this.state.view]
        );
        onWillUnmount(() => this.chart && this.chart.destroy());
    }

    get datasets() {
        return this.props.chart.views[this.state.view];
    }

    renderChart() {
        if (this.chart) {
            this.chart.destroy();
        }
        const counters = { ONAY: 0, RET: 0 };
        const datasets = this.datasets.map((ds) => {
            const colors = ds.status === "RET" ? RET_COLORS : ONAY_COLORS;
            const color = colors[counters[ds.status]++ % colors.length];
            return { label: ds.label, data: ds.data, stack: ds.status, backgroundColor: color };
        });
        this.chart = new Chart(this.canvasRef.el, {
            type: "bar",
            data: { labels: this.props.chart.labels, datasets },
            options: {
                responsive: true,
                maintainAspectRatio: false,
                animation: false,
                scales: {
                    x: { stacked: true },
                    y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } },
                },
                plugins: { legend: { position: "bottom" } },
                onClick: (ev, elements) => {
                    if (elements.length) {
                        this.openBar(elements[0].datasetIndex, elements[0].index);
                    }
                },
            },
        });
    }

    openBar(datasetIndex, dayIndex) {
        const chart = this.props.chart;
        const ds = this.datasets[datasetIndex];
        this.props.onOpen({
            ...chart.action,
            name: `${chart.labels[dayIndex]} · ${ds.label}`,
            domain: [...chart.action.domain, ...chart.day_domains[dayIndex], ...ds.domain],
        });
    }
}

/** The İYS app's landing page: the figures of iys.panel.get_panel_data, by section. */
export class IysPanel extends Component {
    static template = "l10n_tr_iys.Panel";
    static components = { IysPanelChart };
    static props = ["*"];

    setup() {
        this.orm = useService("orm");
        this.actionService = useService("action");
        this.state = useState({ loading: true, data: null, brandId: 0, error: false });
        this.loadToken = 0;
        onWillStart(() => this.load());
    }

    /**
     * Loads the panel progressively, as Odoo's own dashboards do: the first call returns the cheap
     * sections and the page paints; the heavy ones (listed under ``deferred``) show a placeholder
     * and are fetched by their own calls, all issued at once, each rendering when it arrives.
     */
    async load() {
        const token = ++this.loadToken;
        this.state.loading = true;
        try {
            const brandIds = this.state.brandId ? [this.state.brandId] : null;
            const data = await this.orm.call("iys.panel", "get_panel_data", [], {
                brand_ids: brandIds,
                lazy: true,
            });
            if (token !== this.loadToken) {
                return;
            }
            for (const deferred of data.deferred || []) {
                data.sections.push({
                    key: deferred.key,
                    sequence: deferred.sequence,
                    title: deferred.title,
                    rows: [],
                    loading: true,
                    parts: deferred.parts.map(() => null),
                });
            }
            data.sections.sort((a, b) => (a.sequence ?? 100) - (b.sequence ?? 100));
            this.state.data = data;
            this.state.error = false;
            // not awaited by onWillStart: the page paints with the placeholders
            const calls = (data.deferred || []).flatMap((deferred) =>
                deferred.parts.map((ids, index) => this.loadPart(token, deferred.key, ids, index))
            );
            if (calls.length) {
                Promise.all(calls).finally(() => {
                    if (token === this.loadToken) {
                        this.state.loading = false;
                    }
                });
                return;
            }
        } catch (error) {
            if (token === this.loadToken) {
                this.state.loading = false;
            }
            throw error;
        }
        this.state.loading = false;
    }

    /** Fetches one part of a deferred section and merges the parts arrived so far, in their order. */
    async loadPart(token, key, brandIds, index) {
        let result;
        try {
            result = await this.orm.call("iys.panel", "get_panel_section", [key], { brand_ids: brandIds });
        } catch (error) {
            if (token === this.loadToken) {
                this.replaceSection(key, (section) => ({ ...section, loading: false, failed: true }));
            }
            throw error;
        }
        if (token !== this.loadToken) {
            return;
        }
        this.replaceSection(key, (section) => {
            const parts = [...section.parts];
            parts[index] = result || { rows: [] };
            const arrived = parts.filter(Boolean);
            const base = arrived.find((part) => part.key) || {};
            return {
                ...section,
                ...base,
                rows: arrived.flatMap((part) => part.rows || []),
                parts,
                loading: arrived.length < parts.length,
            };
        });
    }

    replaceSection(key, update) {
        const sections = this.state.data.sections;
        const index = sections.findIndex((section) => section.key === key);
        if (index >= 0) {
            sections[index] = update(sections[index]);
        }
    }

    onBrandChange(ev) {
        this.state.brandId = parseInt(ev.target.value) || 0;
        this.load();
    }

    open(action) {
        if (!action) {
            return;
        }
        this.actionService.doAction({
            type: "ir.actions.act_window",
            views: [
                [false, "list"],
                [false, "form"],
            ],
            target: "current",
            ...action,
        });
    }

    isCell(cell) {
        return cell !== null && typeof cell === "object";
    }

    format(value) {
        if (typeof value === "number") {
            return formatInteger(value);
        }
        return value === false || value === null || value === undefined ? "" : String(value);
    }

    levelClass(level) {
        return LEVEL_CLASSES[level] || "";
    }

    get texts() {
        return {
            title: _t("İYS Panel"),
            allBrands: _t("All brands"),
            refresh: _t("Refresh the panel"),
            loading: _t("Loading the İYS figures…"),
            updated: _t("Updated:"),
            nothing: _t("Nothing to show for these brands."),
            sectionLoading: _t("Counting…"),
            sectionFailed: _t("These figures could not be read."),
        };
    }
}

registry.category("actions").add("l10n_tr_iys.panel", IysPanel);
