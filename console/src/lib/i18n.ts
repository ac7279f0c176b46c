// Languages of the console: English, Arabic and Hebrew (right to left).
// Numbers, dates and money go through Intl with the chosen locale.

export const LANGS = ["en", "ar", "he"] as const;
export type Lang = (typeof LANGS)[number];
export const LANG_NAMES: Record<Lang, string> = { en: "English", ar: "العربية", he: "עברית" };

export function isLang(v: unknown): v is Lang {
  return typeof v === "string" && (LANGS as readonly string[]).includes(v);
}
export function dirOf(lang: Lang): "ltr" | "rtl" {
  return lang === "ar" || lang === "he" ? "rtl" : "ltr";
}

const en = {
  appName: "aionOS console",
  nav_tasks: "Tasks", nav_routing: "Routing", nav_policies: "Policies", nav_modules: "Modules", nav_usage: "Usage",
  language: "Language", theme: "Theme", light: "Light", dark: "Dark", signOut: "Sign out", signIn: "Sign in",
  signInTitle: "Sign in to aionOS", apiKey: "API key", signInKey: "Sign in with API key", signInGoogle: "Sign in with Google",
  badKey: "The gateway refused this key.", roles: "Roles", tenant: "Tenant",
  submitTask: "Submit a task", intent: "Intent", params: "Params (JSON)", submit: "Submit", privacy: "Privacy", budget: "Budget (USD)",
  invalidJson: "Params are not valid JSON", liveTasks: "Tasks (live)", noTasks: "No tasks yet.",
  status: "Status", created: "Created", cost: "Cost", task: "Task", events: "Events", result: "Result", route: "Route",
  cancel: "Cancel", canceling: "Cancel requested", live: "live", reconnecting: "reconnecting…", done: "done",
  viewerReadOnly: "Your role can view but not change this.",
  dryRun: "Routing dry run", decide: "Decide", kept: "kept", dropped: "dropped", reason: "Reason", candidate: "Candidate",
  estCost: "Est. cost", estLatency: "Est. latency", plan: "Plan", primary: "Primary",
  policies: "Policies", save: "Save and reload", validate: "Validate", saved: "Saved and reloaded", valid: "Valid",
  refused: "Refused: the policy in force is unchanged", digest: "Policy digest", line: "line", unsaved: "unsaved changes",
  modules: "Modules", signature: "Signature", sbom: "SBOM", limits: "Limits", gpu: "GPU", enabled: "Enabled", enable: "Enable", disable: "Disable",
  usage: "Usage and cost", spendByDay: "Spend per day", spendByProvider: "Spend per provider", spendByModel: "Spend per model", spendByTenant: "Spend per tenant",
  calls: "Calls", tokens: "Tokens", totalSpend: "Total spend", budgetLine: "Budget per task", noUsage: "No model calls recorded in this period.",
  latency: "Latency", overhead: "Overhead", error: "Error", loading: "Loading…", forbidden: "Not allowed for your role.",
  budgets: "Budgets (policies.yml)", today: "Today (UTC)", thisMonth: "This month",
};
export type Messages = typeof en;

const ar: Messages = {
  appName: "وحدة تحكم aionOS",
  nav_tasks: "المهام", nav_routing: "التوجيه", nav_policies: "السياسات", nav_modules: "الوحدات", nav_usage: "الاستخدام",
  language: "اللغة", theme: "المظهر", light: "فاتح", dark: "داكن", signOut: "تسجيل الخروج", signIn: "تسجيل الدخول",
  signInTitle: "تسجيل الدخول إلى aionOS", apiKey: "مفتاح API", signInKey: "الدخول بمفتاح API", signInGoogle: "الدخول عبر Google",
  badKey: "رفضت البوابة هذا المفتاح.", roles: "الأدوار", tenant: "المستأجر",
  submitTask: "إرسال مهمة", intent: "النية", params: "المعاملات (JSON)", submit: "إرسال", privacy: "الخصوصية", budget: "الميزانية (دولار)",
  invalidJson: "المعاملات ليست JSON صالحًا", liveTasks: "المهام (مباشر)", noTasks: "لا توجد مهام بعد.",
  status: "الحالة", created: "أنشئت", cost: "التكلفة", task: "مهمة", events: "الأحداث", result: "النتيجة", route: "المسار",
  cancel: "إلغاء", canceling: "طُلب الإلغاء", live: "مباشر", reconnecting: "إعادة الاتصال…", done: "انتهى",
  viewerReadOnly: "يمكن لدورك العرض فقط دون التعديل.",
  dryRun: "تجربة التوجيه", decide: "قرّر", kept: "مُبقى", dropped: "مُستبعد", reason: "السبب", candidate: "المرشح",
  estCost: "التكلفة المقدرة", estLatency: "الزمن المقدر", plan: "الخطة", primary: "الأساسي",
  policies: "السياسات", save: "حفظ وإعادة التحميل", validate: "تحقق", saved: "حُفظ وأعيد التحميل", valid: "صالح",
  refused: "مرفوض: السياسة السارية لم تتغير", digest: "بصمة السياسة", line: "سطر", unsaved: "تغييرات غير محفوظة",
  modules: "الوحدات", signature: "التوقيع", sbom: "قائمة المكونات", limits: "الحدود", gpu: "معالج رسومي", enabled: "مفعّل", enable: "تفعيل", disable: "تعطيل",
  usage: "الاستخدام والتكلفة", spendByDay: "الإنفاق يوميًا", spendByProvider: "الإنفاق حسب المزوّد", spendByModel: "الإنفاق حسب النموذج", spendByTenant: "الإنفاق حسب المستأجر",
  calls: "الاستدعاءات", tokens: "الرموز", totalSpend: "إجمالي الإنفاق", budgetLine: "الميزانية لكل مهمة", noUsage: "لا توجد استدعاءات نماذج في هذه الفترة.",
  latency: "زمن الاستجابة", overhead: "الحمل الإضافي", error: "خطأ", loading: "جارٍ التحميل…", forbidden: "غير مسموح لدورك.",
  budgets: "الميزانيات (policies.yml)", today: "اليوم (UTC)", thisMonth: "هذا الشهر",
};

const he: Messages = {
  appName: "מסוף aionOS",
  nav_tasks: "משימות", nav_routing: "ניתוב", nav_policies: "מדיניות", nav_modules: "מודולים", nav_usage: "שימוש",
  language: "שפה", theme: "ערכת נושא", light: "בהיר", dark: "כהה", signOut: "התנתקות", signIn: "התחברות",
  signInTitle: "התחברות ל-aionOS", apiKey: "מפתח API", signInKey: "התחברות עם מפתח API", signInGoogle: "התחברות עם Google",
  badKey: "השער דחה את המפתח.", roles: "תפקידים", tenant: "דייר",
  submitTask: "שליחת משימה", intent: "כוונה", params: "פרמטרים (JSON)", submit: "שליחה", privacy: "פרטיות", budget: "תקציב (דולר)",
  invalidJson: "הפרמטרים אינם JSON תקין", liveTasks: "משימות (חי)", noTasks: "אין משימות עדיין.",
  status: "מצב", created: "נוצרה", cost: "עלות", task: "משימה", events: "אירועים", result: "תוצאה", route: "מסלול",
  cancel: "ביטול", canceling: "התבקש ביטול", live: "חי", reconnecting: "מתחבר מחדש…", done: "הסתיים",
  viewerReadOnly: "התפקיד שלך מאפשר צפייה בלבד.",
  dryRun: "הרצת ניסיון לניתוב", decide: "החלט", kept: "נשמר", dropped: "נפסל", reason: "סיבה", candidate: "מועמד",
  estCost: "עלות משוערת", estLatency: "זמן משוער", plan: "תוכנית", primary: "ראשי",
  policies: "מדיניות", save: "שמירה וטעינה מחדש", validate: "בדיקה", saved: "נשמר ונטען מחדש", valid: "תקין",
  refused: "נדחה: המדיניות בתוקף לא השתנתה", digest: "תקציר מדיניות", line: "שורה", unsaved: "שינויים שלא נשמרו",
  modules: "מודולים", signature: "חתימה", sbom: "רשימת רכיבים", limits: "מגבלות", gpu: "מעבד גרפי", enabled: "פעיל", enable: "הפעלה", disable: "השבתה",
  usage: "שימוש ועלות", spendByDay: "הוצאה ליום", spendByProvider: "הוצאה לפי ספק", spendByModel: "הוצאה לפי מודל", spendByTenant: "הוצאה לפי דייר",
  calls: "קריאות", tokens: "אסימונים", totalSpend: "סך ההוצאה", budgetLine: "תקציב למשימה", noUsage: "לא נרשמו קריאות למודלים בתקופה זו.",
  latency: "השהיה", overhead: "תקורה", error: "שגיאה", loading: "טוען…", forbidden: "אסור לתפקיד שלך.",
  budgets: "תקציבים (policies.yml)", today: "היום (UTC)", thisMonth: "החודש",
};

export const MESSAGES: Record<Lang, Messages> = { en, ar, he };

export function t(lang: Lang, key: keyof Messages): string {
  return MESSAGES[lang][key];
}

const LOCALE: Record<Lang, string> = { en: "en-US", ar: "ar-EG", he: "he-IL" };

export function formatNumber(lang: Lang, n: number): string {
  return new Intl.NumberFormat(LOCALE[lang]).format(n);
}
export function formatUsd(lang: Lang, n: number): string {
  return new Intl.NumberFormat(LOCALE[lang], { style: "currency", currency: "USD", maximumFractionDigits: n !== 0 && Math.abs(n) < 0.01 ? 6 : 2 }).format(n);
}
export function formatDateTime(lang: Lang, iso: string | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return new Intl.DateTimeFormat(LOCALE[lang], { dateStyle: "medium", timeStyle: "medium", timeZone: "UTC" }).format(d);
}
export function formatMs(lang: Lang, ms: number): string {
  return new Intl.NumberFormat(LOCALE[lang], { style: "unit", unit: "millisecond", maximumFractionDigits: 1 }).format(ms);
}
